"""`manage.py serve` (what `make run` starts): ASGI HTTP + WebSocket and a worker, stopped by
Ctrl-C. Runs the real processes against the test database."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from django.conf import settings
from django.db import connection


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, host: str, path: str) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def served(tenant):
    db = connection.settings_dict
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}",
        "Q_WORKERS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )
    # Output is read as it comes, so the test can wait for the worker as well as the web server:
    # on a busy machine the worker may still be importing Django when HTTP already answers, and a
    # Ctrl-C then would stop it before it ever said it was running.
    lines: list[str] = []

    def read_output():
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    deadline = time.time() + 90
    web_up = False
    while time.time() < deadline and not (web_up and any("Q Cluster" in line for line in lines)):
        try:
            web_up = web_up or _get(port, "localhost", "/healthz")[0] == 200
        except OSError:
            pass
        time.sleep(0.3)

    def output_after_exit() -> str:
        process.wait(timeout=30)
        reader.join(timeout=5)
        return "".join(lines)

    yield process, port, output_after_exit
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)


def test_serve_answers_http_and_websocket_then_stops_on_ctrl_c(served, tenant):
    process, port, output_after_exit = served
    status, body = _get(port, "alpha.localhost", "/accounts/login/")
    assert status == 200
    assert "Sign in to Alpha Inc" in body
    assert _get(port, "nowhere.localhost", "/")[0] == 404

    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    # The WebSocket route is served (an unknown path would be a 404 from the router) and refuses
    # a visitor without a session of this workspace.
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{port}/ws/contacts/", additional_headers={"Host": "alpha.localhost"})
    assert refused.value.response.status_code == 403

    os.killpg(process.pid, signal.SIGINT)
    output = output_after_exit()
    assert process.returncode == 0, output
    assert "demo.localhost" in output
    assert "Q Cluster" in output  # the worker ran alongside the web server
    assert "Stopped." in output
