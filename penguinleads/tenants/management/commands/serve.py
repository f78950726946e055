"""Serve HTTP + WebSocket (uvicorn, ASGI) and a django-q2 worker in one process group.

Ctrl-C (or SIGTERM) stops both. Used by `make run`."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from penguinleads.tenants.management.commands.setup_demo import DEMO_OWNER, SUPPORT_ADMIN


class Command(BaseCommand):
    help = "Run the web server (HTTP + WebSocket) and a background worker until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--no-worker", action="store_true")

    def handle(self, *args, port: int, host: str, no_worker: bool, **options):
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        web = [
            python, "-m", "uvicorn", "penguinleads.asgi:application",
            "--host", host, "--port", str(port), "--ws", "websockets-sansio", "--lifespan", "off",
            "--no-server-header",
            "--proxy-headers",
        ]
        children = [subprocess.Popen(web, cwd=settings.BASE_DIR)]
        if not no_worker:
            children.append(subprocess.Popen([python, manage, "qcluster"], cwd=settings.BASE_DIR))
        self._banner(port)
        stop = {"now": False}

        def on_signal(signum, frame):
            stop["now"] = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            while not stop["now"] and all(c.poll() is None for c in children):
                time.sleep(0.3)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            deadline = time.time() + 10
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    child.kill()
        self.stdout.write("Stopped.")

    def _banner(self, port: int) -> None:
        self.stdout.write(
            self.style.SUCCESS(
                "\n  PenguinLeads is running.\n"
                f"    Demo workspace:  http://demo.localhost:{port}/\n"
                f"    Demo login:      {DEMO_OWNER[0]} / {DEMO_OWNER[1]}\n"
                f"    API docs:        http://demo.localhost:{port}/api/v1/docs\n"
                f"    Support admin:   http://localhost:{port}/admin/  "
                f"({SUPPORT_ADMIN[0]} / {SUPPORT_ADMIN[1]})\n"
                "  Press Ctrl-C to stop.\n"
            )
        )
