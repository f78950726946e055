"""A real DNS server on loopback for tests and benchmarks of the MX checks.

    with LoopbackDNS({"acme-mail.com": {"mx": ["mx1.acme-mail.com"]}}) as server:
        settings.DNS_NAMESERVERS = [f"127.0.0.1:{server.port}"]

Built on dnspython's message API; serves UDP and TCP on 127.0.0.1 at an ephemeral port. Each
domain has a behaviour:

- a dict of records: {"mx": [hosts]}, {"null_mx": True}, {"a": [...]}, {"aaaa": [...]}; a type
  without records gets an empty NOERROR answer (so {} is a domain that has no mail host);
- "timeout": never answer; "servfail": answer SERVFAIL;
- {"delay": seconds, …records}: answer, but only after `seconds` (a slow server);
- a domain with no behaviour is NXDOMAIN.

Behaviours come from the `domains` dict (mutable while serving), then from `resolve(name)` for
generated names (benchmarks: thousands of domains without a dict). Every query is recorded in
`queries` as (name, type) so tests can prove a cache avoided a lookup.

UDP is served by one thread answering each datagram on the spot (~4,000 answers/s on this
machine; a "timeout" is a drop, a "delay" a timer), with a receive buffer large enough that a
burst of hundreds of concurrent queries queues instead of being lost. LoopbackDNSProcess runs
the same server in a child process, for benchmarks.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import socketserver
import struct
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
from dns.rdataclass import IN
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

Behaviour = str | Mapping[str, Any]
TTL = 300
RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024


def mail_host(name: str) -> Behaviour:
    """A `resolve` for benchmarks: every name has one MX host."""
    return {"mx": [f"mx.{name}"]}


def generated_domains(count: int, *, stem: str = "lead", tld: str = "com") -> list[str]:
    """`count` distinct, realistic-looking domains (lead1-mail.com, …)."""
    return [f"{stem}{number}-mail.{tld}" for number in range(1, count + 1)]


class LoopbackDNS:
    """The server, in threads of this process (tests can change `domains` and read `queries`)."""

    def __init__(
        self,
        domains: Mapping[str, Behaviour] | None = None,
        *,
        resolve: Callable[[str], Behaviour | None] | None = None,
    ) -> None:
        self.domains: dict[str, Behaviour] = {
            name.lower().rstrip("."): behaviour for name, behaviour in (domains or {}).items()
        }
        self.resolve = resolve
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._udp: socket.socket | None = None
        self._tcp: socketserver.ThreadingTCPServer | None = None
        self._threads: list[threading.Thread] = []
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> LoopbackDNS:
        self._udp, self._tcp = self._bind()
        self.port = self._udp.getsockname()[1]
        self._threads = [
            threading.Thread(target=self._serve_udp, name="dns-udp", daemon=True),
            threading.Thread(
                target=self._tcp.serve_forever, args=(0.05,), name="dns-tcp", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        if self._udp is None:
            return
        self._tcp.shutdown()
        self._tcp.server_close()
        # A datagram to ourselves wakes the UDP loop, which then sees that the socket is closing.
        udp, self._udp = self._udp, None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:
            waker.sendto(b"", ("127.0.0.1", self.port))
        for thread in self._threads:
            thread.join(timeout=5)
        udp.close()

    def __enter__(self) -> LoopbackDNS:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """The DNS_NAMESERVERS entry for this server."""
        return f"127.0.0.1:{self.port}"

    def clear_queries(self) -> None:
        with self._lock:
            self.queries.clear()

    def queried_names(self) -> set[str]:
        with self._lock:
            return {name for name, _type in self.queries}

    # --- answering -------------------------------------------------------------------------------

    def answer(self, wire: bytes) -> tuple[bytes | None, float]:
        """The response to one query in wire format (None to stay silent) and how many seconds
        to wait before sending it."""
        try:
            query = dns.message.from_wire(wire)
            question = query.question[0]
        except (dns.exception.DNSException, IndexError):
            return None, 0
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.queries.append((name, rdtype))
        behaviour = self._behaviour(name)
        if behaviour == "timeout":
            return None, 0
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if behaviour == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire(), 0
        if behaviour is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire(), 0
        if records := _records(behaviour, question.rdtype):
            response.answer.append(dns.rrset.from_rdata_list(question.name, TTL, records))
        return response.to_wire(), behaviour.get("delay", 0)

    def _behaviour(self, name: str) -> Behaviour | None:
        behaviour = self.domains.get(name)
        if behaviour is None and self.resolve is not None:
            try:
                behaviour = self.resolve(name)
            except Exception:  # a broken `resolve` shows its traceback and does not stop the server
                traceback.print_exc()
                behaviour = "servfail"
        return behaviour

    def _serve_udp(self) -> None:
        udp = self._udp
        while self._udp is not None:
            try:
                wire, client = udp.recvfrom(65535)
            except OSError:
                return
            response, delay = self.answer(wire) if wire else (None, 0)
            if response is not None and delay:
                threading.Timer(delay, _send_quietly, (udp, response, client)).start()
            elif response is not None:
                udp.sendto(response, client)

    def _bind(self) -> tuple[socket.socket, socketserver.ThreadingTCPServer]:
        """UDP and TCP on one ephemeral port; retried because the port the kernel picks for
        UDP may be taken for TCP."""
        for _attempt in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            udp.bind(("127.0.0.1", 0))
            try:
                return udp, self._tcp_server(udp.getsockname()[1])
            except OSError:
                udp.close()
        raise OSError("no port free for both UDP and TCP on 127.0.0.1")

    def _tcp_server(self, port: int) -> socketserver.ThreadingTCPServer:
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                # DNS over TCP: each message is preceded by its length on two bytes.
                while header := _read_exactly(self.request, 2):
                    wire = _read_exactly(self.request, struct.unpack("!H", header)[0])
                    response, delay = server.answer(wire) if wire else (None, 0)
                    if response is None:
                        return
                    time.sleep(delay)
                    self.request.sendall(struct.pack("!H", len(response)) + response)

        return _TCPServer(("127.0.0.1", port), Handler)


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class LoopbackDNSProcess:
    """The same server in a forked child process, for benchmarks: there it does not share the
    measured process's CPU and GIL (a real resolver runs elsewhere too). `resolve` may be any
    callable, closures included, since the child is forked. Queries are counted, not listed."""

    def __init__(
        self,
        domains: Mapping[str, Behaviour] | None = None,
        *,
        resolve: Callable[[str], Behaviour | None] | None = None,
    ) -> None:
        self._server_args = (domains, resolve)
        self._conn = None
        self._process = None
        self.port = 0

    def start(self) -> LoopbackDNSProcess:
        context = multiprocessing.get_context("fork")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=_serve_in_child, args=(child_conn, *self._server_args), daemon=True
        )
        self._process.start()
        self.port = self._conn.recv()
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._ask("stop")
            self._process.join(timeout=5)
            self._process = None

    def __enter__(self) -> LoopbackDNSProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def query_count(self) -> int:
        return self._ask("count")

    def clear_queries(self) -> None:
        self._ask("clear")

    def _ask(self, command: str):
        self._conn.send(command)
        return self._conn.recv()


def _serve_in_child(conn, domains, resolve) -> None:
    with LoopbackDNS(domains, resolve=resolve) as server:
        conn.send(server.port)
        while (command := conn.recv()) != "stop":
            if command == "clear":
                server.clear_queries()
            conn.send(len(server.queries) if command == "count" else None)
    conn.send(None)


def _records(behaviour: Mapping[str, Any], rdtype: dns.rdatatype.RdataType) -> list:
    """Rdata built directly: parsing record text would double the cost of an answer."""
    if rdtype == dns.rdatatype.MX:
        if behaviour.get("null_mx"):
            return [MX(IN, rdtype, 0, dns.name.root)]
        hosts = behaviour.get("mx", [])
        return [
            MX(IN, rdtype, 10 * rank, dns.name.from_text(host))
            for rank, host in enumerate(hosts, 1)
        ]
    if rdtype == dns.rdatatype.A:
        return [A(IN, rdtype, address) for address in behaviour.get("a", [])]
    if rdtype == dns.rdatatype.AAAA:
        return [AAAA(IN, rdtype, address) for address in behaviour.get("aaaa", [])]
    return []


def _send_quietly(udp: socket.socket, response: bytes, client) -> None:
    with contextlib.suppress(OSError):  # the server may have stopped meanwhile
        udp.sendto(response, client)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data
