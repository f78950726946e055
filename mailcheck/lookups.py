"""DNS facts about mail domains (MX, null MX, A/AAAA fallback), with dnspython only: no Django,
so that the same code runs in the app and in a child process of its own.

    python -m mailcheck.lookups --timeout 3 --concurrency 64 [--nameserver 127.0.0.1:53 …]

The child reads domain names (ASCII, one per line) on stdin and, as each lookup ends, writes
`name<TAB>status<TAB>reason<TAB>mx1,mx2` on stdout; at the end of stdin it finishes the lookups
under way and exits. An import feeds it the domains of the rows it has read while it parses the
rest (mailcheck.checks.DomainChecksAhead): the lookups' CPU work runs on the other core.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass, field

import dns.asyncresolver
import dns.exception
import dns.inet
import dns.name
import dns.nameserver
import dns.resolver

logger = logging.getLogger(__name__)

VALID, RISKY, INVALID, UNKNOWN = "valid", "risky", "invalid", "unknown"


@dataclass(frozen=True)
class DomainVerdict:
    status: str  # valid | risky | invalid | unknown
    reason: str = ""  # '' | disposable | null_mx | no_such_domain | no_mail_host | dns_…


@dataclass(frozen=True)
class Facts:
    """What DNS says about one domain; stored as a DomainCheck row."""

    status: str
    reason: str = ""
    mx_hosts: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> DomainVerdict:
        return DomainVerdict(self.status, self.reason)

    @property
    def is_failure(self) -> bool:
        return self.status == UNKNOWN

    def to_line(self, name: str) -> str:
        return "\t".join((name, self.status, self.reason, ",".join(self.mx_hosts))) + "\n"

    @classmethod
    def from_line(cls, line: str) -> tuple[str, Facts]:
        name, status, reason, hosts = line.rstrip("\n").split("\t")
        return name, cls(status, reason, hosts.split(",") if hosts else [])


NO_SUCH_DOMAIN = Facts(INVALID, "no_such_domain")
NULL_MX = Facts(INVALID, "null_mx")
NO_MAIL_HOST = Facts(INVALID, "no_mail_host")
DNS_TIMEOUT = Facts(UNKNOWN, "dns_timeout")
DNS_ERROR = Facts(UNKNOWN, "dns_error")


def parse_nameserver(entry: str) -> tuple[str, int]:
    """'host', 'host:port', '[v6]:port' or a bare IPv6 address (host an IP address); raises
    ValueError otherwise."""
    host, port_text = entry.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port_text = rest.removeprefix(":") or "53"
    elif host.count(":") == 1:
        host, port_text = host.split(":")
    if not (dns.inet.is_address(host) and port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ValueError(f"{entry!r} is not an IP address[:port].")
    return host, int(port_text)


def make_resolver(nameservers: list[str], timeout: float) -> dns.asyncresolver.Resolver | None:
    """A resolver for `nameservers` (validated entries), else the system's (None if it has
    none). Two tries per query within `timeout`: one lost UDP datagram is not a timeout."""
    try:
        resolver = dns.asyncresolver.Resolver(configure=not nameservers)
    except dns.resolver.NoResolverConfiguration:
        return None
    if nameservers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_nameserver(entry))
                                for entry in nameservers]
    resolver.lifetime = timeout
    resolver.timeout = timeout / 2
    return resolver


async def look_up(resolver: dns.asyncresolver.Resolver, name: dns.name.Name) -> Facts:
    try:
        answer = await resolver.resolve(name, "MX", search=False)
    except dns.resolver.NXDOMAIN:
        return NO_SUCH_DOMAIN
    except dns.resolver.NoAnswer:
        return await _look_up_address(resolver, name)
    except dns.exception.Timeout:
        return DNS_TIMEOUT
    except dns.exception.DNSException:
        return DNS_ERROR
    records = sorted(answer, key=lambda record: record.preference)
    hosts = [
        r.exchange.to_text(omit_final_dot=True) for r in records if r.exchange != dns.name.root
    ]
    # RFC 7505: a single MX of "." says the domain accepts no mail.
    return Facts(VALID, "", hosts) if hosts else NULL_MX


async def _look_up_address(resolver: dns.asyncresolver.Resolver, name: dns.name.Name) -> Facts:
    """No MX record: mail goes to the domain's own A/AAAA address (RFC 5321 §5.1)."""
    outcomes = await asyncio.gather(
        resolver.resolve(name, "A", search=False),
        resolver.resolve(name, "AAAA", search=False),
        return_exceptions=True,
    )
    if any(isinstance(outcome, dns.resolver.Answer) for outcome in outcomes):
        return Facts(VALID, "", [name.to_text(omit_final_dot=True)])
    if all(isinstance(outcome, dns.resolver.NoAnswer) for outcome in outcomes):
        return NO_MAIL_HOST
    if any(isinstance(outcome, dns.resolver.NXDOMAIN) for outcome in outcomes):
        return NO_SUCH_DOMAIN
    if any(isinstance(outcome, dns.exception.Timeout) for outcome in outcomes):
        return DNS_TIMEOUT
    return DNS_ERROR


async def look_up_safely(resolver: dns.asyncresolver.Resolver, name: str,
                         slots: asyncio.Semaphore) -> Facts:
    async with slots:
        try:
            return await look_up(resolver, dns.name.from_text(name))
        except Exception:  # one odd domain must not fail a whole import
            logger.exception("DNS lookup of %s failed", name)
            return DNS_ERROR


# --- the child process ----------------------------------------------------------------------------


async def _serve(resolver: dns.asyncresolver.Resolver | None, concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(max(concurrency, 1))
    running: set[asyncio.Task] = set()

    async def one(name: str) -> None:
        facts = DNS_ERROR if resolver is None else await look_up_safely(resolver, name, slots)
        sys.stdout.write(facts.to_line(name))
        sys.stdout.flush()

    partial = b""
    while chunk := await loop.run_in_executor(None, sys.stdin.buffer.read1, 65536):
        *lines, partial = (partial + chunk).split(b"\n")
        for line in lines:
            if name := line.decode("ascii", "replace").strip():
                task = asyncio.ensure_future(one(name))
                running.add(task)
                task.add_done_callback(running.discard)
    if running:
        await asyncio.gather(*running)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--nameserver", action="append", default=[])
    args = parser.parse_args(argv)
    asyncio.run(_serve(make_resolver(args.nameserver, args.timeout), args.concurrency))


if __name__ == "__main__":
    main()
