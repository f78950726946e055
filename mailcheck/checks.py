"""Can an email domain receive mail? Verdicts per domain for imports: the disposable-domain list
(with an allow-list override) and DNS facts (MX, null MX, A/AAAA fallback), looked up
concurrently within a time budget and cached per domain in DomainCheck (public schema, shared
by every tenant: the rows hold facts about domains, never tenant data).

A DNS failure (timeout, SERVFAIL) is "unknown", never "invalid": the domain may well work, and
its failure is cached only briefly so the next import asks again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import dns.asyncresolver
import dns.exception
import dns.inet
import dns.name
import dns.nameserver
import dns.resolver
from disposable_email_domains import blocklist
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from mailcheck.models import AllowedDomain, DomainCheck

logger = logging.getLogger(__name__)

VALID, RISKY, INVALID, UNKNOWN = "valid", "risky", "invalid", "unknown"
FAILURE_TTL_SECONDS = 600
ALLOWLIST_TTL_SECONDS = 60
# The call's time budget: an MX query then an A/AAAA fallback may each take a whole timeout, and
# a large batch needs time in proportion: dnspython spends ~1.2 ms of CPU per domain on this
# machine, and a real resolver answers DNS_CONCURRENCY lookups of ~50-100 ms at once (~1-2 ms per
# domain). 4 ms leaves room for a busy machine; what still runs then is cut off.
BUDGET_MARGIN_SECONDS = 1.0
BUDGET_PER_LOOKUP_SECONDS = 0.004
# The common case, already IDNA and lower-case, without building a dns.name.Name (5x slower).
PLAIN_DOMAIN_RE = re.compile(
    r"(?=.{4,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
)


@dataclass(frozen=True)
class DomainVerdict:
    status: str  # valid | risky | invalid | unknown
    reason: str = ""  # '' | disposable | null_mx | no_such_domain | no_mail_host | dns_…


@dataclass(frozen=True)
class _Facts:
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


DISPOSABLE = DomainVerdict(RISKY, "disposable")
NO_SUCH_DOMAIN = _Facts(INVALID, "no_such_domain")
NULL_MX = _Facts(INVALID, "null_mx")
NO_MAIL_HOST = _Facts(INVALID, "no_mail_host")
DNS_TIMEOUT = _Facts(UNKNOWN, "dns_timeout")
DNS_ERROR = _Facts(UNKNOWN, "dns_error")


# --- disposable domains -------------------------------------------------------------------------

_allowlist: tuple[float, frozenset[str]] = (0.0, frozenset())


def is_disposable(domain: str) -> bool:
    """Whether `domain` (ASCII, lower-case) or a parent of it is on the disposable list and
    neither it nor a parent is allowed (AllowedDomain rows, settings.DISPOSABLE_ALLOWLIST).
    Reads AllowedDomain at most once a minute per process."""
    labels = domain.rstrip(".").split(".")
    # Parents down to the registrable part: sub.mailinator.com → mailinator.com, never "com".
    candidates = {".".join(labels[index:]) for index in range(len(labels) - 1)}
    if candidates.isdisjoint(blocklist):
        return False
    allowed = _allowed_domains() | {entry.lower() for entry in settings.DISPOSABLE_ALLOWLIST}
    return candidates.isdisjoint(allowed)


def forget_allowlist() -> None:
    """Drop this process's copy of the AllowedDomain rows (call after changing them); other
    processes see the change within ALLOWLIST_TTL_SECONDS."""
    global _allowlist
    _allowlist = (0.0, frozenset())


def _allowed_domains() -> frozenset[str]:
    global _allowlist
    expires, domains = _allowlist
    if time.monotonic() >= expires:
        domains = frozenset(AllowedDomain.objects.values_list("domain", flat=True))
        _allowlist = (time.monotonic() + ALLOWLIST_TTL_SECONDS, domains)
    return domains


# --- verdicts -----------------------------------------------------------------------------------


def check_domains(
    domains: Iterable[str], *, budget_seconds: float | None = None
) -> dict[str, DomainVerdict]:
    """A verdict for each distinct domain (ASCII, lower-case; keys as given). Disposable ones
    need no DNS. The rest come from fresh DomainCheck rows, else from DNS lookups run
    concurrently (settings.DNS_CONCURRENCY) within `budget_seconds` (default: 2 ×
    DNS_TIMEOUT_SECONDS + 1 s + 4 ms per domain to look up); a lookup still running then is
    unknown/dns_timeout.

    Side effects: one read of DomainCheck; DNS queries to settings.DNS_NAMESERVERS (else the
    system resolver); one upsert of DomainCheck rows for the domains looked up (failures
    expire after FAILURE_TTL_SECONDS, other facts after settings.DNS_CACHE_TTL_SECONDS).
    The upsert locks those rows until the caller's transaction ends, so call it outside a long
    transaction or a concurrent import checking the same domains waits for this one."""
    names = {domain: ascii_domain(domain) for domain in set(domains)}
    verdicts = {domain: NO_SUCH_DOMAIN.verdict for domain, name in names.items() if not name}
    for domain, name in names.items():
        if name and is_disposable(name):
            verdicts[domain] = DISPOSABLE
    wanted = {name for domain, name in names.items() if domain not in verdicts}
    facts = _cached_facts(wanted)
    missing = wanted - facts.keys()
    if missing:
        budget = budget_seconds if budget_seconds is not None else _default_budget(len(missing))
        # An event loop of its own: the caller is sync code (views, tasks, commands) and the
        # ORM is not touched while it runs.
        found = asyncio.run(_look_up_all(list(missing), budget))
        _store_facts(found)
        facts.update(found)
    for domain, name in names.items():
        if domain not in verdicts:
            verdicts[domain] = facts[name].verdict
    return verdicts


def ascii_domain(domain: str) -> str:
    """The domain as DNS spells it (IDNA, lower-case, no final dot), or '' if it cannot be one
    (empty, a bare TLD, a label over 63 characters, over 253 characters). Also used to
    normalise AllowedDomain entries."""
    if PLAIN_DOMAIN_RE.fullmatch(domain):
        return domain
    try:
        name = dns.name.from_text(domain.strip().rstrip("."))
    except (dns.exception.DNSException, UnicodeError):
        return ""
    text = name.to_text(omit_final_dot=True).lower()
    return text if len(name.labels) > 2 and len(text) <= 253 else ""


def _default_budget(lookups: int) -> float:
    timeout = settings.DNS_TIMEOUT_SECONDS
    return 2 * timeout + BUDGET_MARGIN_SECONDS + lookups * BUDGET_PER_LOOKUP_SECONDS


# --- cache (DomainCheck lives in the public schema; a tenant's search_path ends with public) -----


def _cached_facts(names: set[str]) -> dict[str, _Facts]:
    if not names:
        return {}
    rows = DomainCheck.objects.filter(domain__in=names, expires_at__gt=timezone.now())
    # mx_hosts is for people reading the admin; a verdict needs status and reason only.
    return {
        domain: _Facts(status, reason)
        for domain, status, reason in rows.values_list("domain", "status", "reason")
    }


def _store_facts(facts: dict[str, _Facts]) -> None:
    now = timezone.now()
    ttl = timedelta(seconds=settings.DNS_CACHE_TTL_SECONDS)
    failure_ttl = timedelta(seconds=FAILURE_TTL_SECONDS)
    rows = [
        DomainCheck(
            domain=domain,
            status=fact.status,
            reason=fact.reason,
            mx_hosts=fact.mx_hosts,
            checked_at=now,
            expires_at=now + (failure_ttl if fact.is_failure else ttl),
        )
        # Sorted so that two imports upserting overlapping domains lock rows in the same order.
        for domain, fact in sorted(facts.items())
    ]
    DomainCheck.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["domain"],
        update_fields=["status", "reason", "mx_hosts", "checked_at", "expires_at"],
    )


# --- DNS ----------------------------------------------------------------------------------------


async def _look_up_all(names: list[str], budget: float) -> dict[str, _Facts]:
    resolver = _resolver()
    if resolver is None:
        return dict.fromkeys(names, DNS_ERROR)
    slots = asyncio.Semaphore(max(settings.DNS_CONCURRENCY, 1))

    async def look_up(name: str) -> _Facts:
        async with slots:
            try:
                return await _look_up(resolver, dns.name.from_text(name))
            except Exception:  # one odd domain must not fail a whole import
                logger.exception("DNS lookup of %s failed", name)
                return DNS_ERROR

    tasks = {asyncio.ensure_future(look_up(name)): name for name in names}
    done, pending = await asyncio.wait(tasks, timeout=budget)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if pending:
        logger.warning(
            "DNS: %d of %d lookups still running after %.1f s count as dns_timeout",
            len(pending),
            len(tasks),
            budget,
        )
    facts = dict.fromkeys((tasks[task] for task in pending), DNS_TIMEOUT)
    facts.update({tasks[task]: task.result() for task in done})
    return facts


def _resolver() -> dns.asyncresolver.Resolver | None:
    """A resolver for settings.DNS_NAMESERVERS, else the system's (None if it has none)."""
    try:
        resolver = dns.asyncresolver.Resolver(configure=not settings.DNS_NAMESERVERS)
    except dns.resolver.NoResolverConfiguration:
        return None
    if settings.DNS_NAMESERVERS:
        resolver.nameservers = [_nameserver(entry) for entry in settings.DNS_NAMESERVERS]
    resolver.lifetime = settings.DNS_TIMEOUT_SECONDS
    # Two tries per query within its lifetime: one lost UDP datagram is not a timeout.
    resolver.timeout = settings.DNS_TIMEOUT_SECONDS / 2
    return resolver


def _nameserver(entry: str) -> dns.nameserver.Do53Nameserver:
    """'host', 'host:port', '[v6]:port' or a bare IPv6 address; host must be an IP address."""
    host, port_text = entry.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port_text = rest.removeprefix(":") or "53"
    elif host.count(":") == 1:
        host, port_text = host.split(":")
    if not (dns.inet.is_address(host) and port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ImproperlyConfigured(f"DNS_NAMESERVERS: {entry!r} is not an IP address[:port].")
    return dns.nameserver.Do53Nameserver(host, int(port_text))


async def _look_up(resolver: dns.asyncresolver.Resolver, name: dns.name.Name) -> _Facts:
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
    return _Facts(VALID, "", hosts) if hosts else NULL_MX


async def _look_up_address(resolver: dns.asyncresolver.Resolver, name: dns.name.Name) -> _Facts:
    """No MX record: mail goes to the domain's own A/AAAA address (RFC 5321 §5.1)."""
    outcomes = await asyncio.gather(
        resolver.resolve(name, "A", search=False),
        resolver.resolve(name, "AAAA", search=False),
        return_exceptions=True,
    )
    if any(isinstance(outcome, dns.resolver.Answer) for outcome in outcomes):
        return _Facts(VALID, "", [name.to_text(omit_final_dot=True)])
    if all(isinstance(outcome, dns.resolver.NoAnswer) for outcome in outcomes):
        return NO_MAIL_HOST
    if any(isinstance(outcome, dns.resolver.NXDOMAIN) for outcome in outcomes):
        return NO_SUCH_DOMAIN
    if any(isinstance(outcome, dns.exception.Timeout) for outcome in outcomes):
        return DNS_TIMEOUT
    return DNS_ERROR
