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
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
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

from mailcheck.lookups import (  # noqa: F401  (the verdicts' names are imported from here)
    DNS_ERROR,
    DNS_TIMEOUT,
    INVALID,
    NO_MAIL_HOST,
    NO_SUCH_DOMAIN,
    NULL_MX,
    RISKY,
    UNKNOWN,
    VALID,
    DomainVerdict,
    look_up_safely,
    make_resolver,
    parse_nameserver,
)
from mailcheck.lookups import Facts as _Facts
from mailcheck.models import AllowedDomain, DomainCheck

logger = logging.getLogger(__name__)

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


DISPOSABLE = DomainVerdict(RISKY, "disposable")


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
    names, verdicts, facts, missing = _triage(domains)
    if missing:
        budget = budget_seconds if budget_seconds is not None else _default_budget(len(missing))
        # An event loop of its own: the caller is sync code (views, tasks, commands) and the
        # ORM is not touched while it runs.
        found = asyncio.run(_look_up_all(list(missing), budget))
        _store_facts(found)
        facts.update(found)
    return _with_facts(names, verdicts, facts)


def _triage(domains: Iterable[str]):
    """(DNS name of each domain, verdicts known without DNS, cached facts, names to look up)."""
    names = {domain: ascii_domain(domain) for domain in set(domains)}
    verdicts = {domain: NO_SUCH_DOMAIN.verdict for domain, name in names.items() if not name}
    for domain, name in names.items():
        if name and is_disposable(name):
            verdicts[domain] = DISPOSABLE
    wanted = {name for domain, name in names.items() if domain not in verdicts}
    facts = _cached_facts(wanted)
    return names, verdicts, facts, wanted - facts.keys()


def _with_facts(names: dict[str, str], verdicts: dict[str, DomainVerdict],
                facts: dict[str, _Facts]) -> dict[str, DomainVerdict]:
    for domain, name in names.items():
        if domain not in verdicts:
            verdicts[domain] = facts[name].verdict
    return verdicts


class DomainChecksAhead:
    """check_domains for domains that arrive while the caller is still reading: an import
    hands over the domains of the rows it has read, and a child process (python -m
    mailcheck.lookups) looks them up on the other core while the import parses the rest.
    add() never blocks; results() waits for the lookups still running (within the same budget
    as check_domains) and returns a verdict for every domain added, with the same cache and
    side effects as check_domains. Without the child (it could not start or died), what it
    did not answer is looked up here. A context manager: leaving it stops the child."""

    def __init__(self, *, batch: int = 250) -> None:
        self._batch = batch
        self._seen: set[str] = set()
        self._pending: list[str] = []
        self._names: dict[str, str] = {}
        self._verdicts: dict[str, DomainVerdict] = {}
        self._facts: dict[str, _Facts] = {}
        self._sent: set[str] = set()  # DNS names handed to the child
        self._found: dict[str, _Facts] = {}  # filled by the reader thread
        self._child: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._timed_out = False

    def add(self, domain: str) -> None:
        if domain not in self._seen:
            self._seen.add(domain)
            self._pending.append(domain)
            if len(self._pending) >= self._batch:
                self._send()

    def results(self) -> dict[str, DomainVerdict]:
        self._send()
        self._wait()
        left = self._sent - self._found.keys()
        if left and self._timed_out:
            self._found.update(dict.fromkeys(left, DNS_TIMEOUT))
        elif left:
            self._found.update(asyncio.run(_look_up_all(list(left), _default_budget(len(left)))))
        found = {name: self._found[name] for name in self._sent}
        if found:
            _store_facts(found)
        self._facts.update(found)
        return _with_facts(self._names, self._verdicts, self._facts)

    def __enter__(self) -> DomainChecksAhead:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._child is not None and self._child.poll() is None:
            self._child.kill()
            self._child.wait()

    def _send(self) -> None:
        if not self._pending:
            return
        names, verdicts, facts, missing = _triage(self._pending)
        self._pending = []
        self._names.update(names)
        self._verdicts.update(verdicts)
        self._facts.update(facts)
        missing -= self._sent
        if not missing:
            return
        self._sent |= missing
        if self._child is None:
            self._start()
        if self._child is not None and self._child.poll() is None:
            try:
                self._child.stdin.write("".join(f"{name}\n" for name in missing))
                self._child.stdin.flush()
            except OSError:  # the child died: results() looks these up itself
                pass

    def _start(self) -> None:
        if _resolver() is None:  # no nameserver at all: results() says dns_error
            return
        command = [sys.executable, "-m", "mailcheck.lookups",
                   f"--timeout={settings.DNS_TIMEOUT_SECONDS}",
                   f"--concurrency={settings.DNS_CONCURRENCY}",
                   *(f"--nameserver={entry.strip()}" for entry in settings.DNS_NAMESERVERS)]
        try:
            self._child = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                encoding="ascii", errors="replace", cwd=settings.BASE_DIR)
        except OSError:
            logger.exception("DNS: could not start the lookup process; looking up in-process")
            return
        self._reader = threading.Thread(target=self._read, name="dns-lookups", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._child.stdout:
            try:
                name, facts = _Facts.from_line(line)
            except ValueError:
                continue  # not a result line: whatever it lacks is looked up again
            self._found[name] = facts

    def _wait(self) -> None:
        if self._child is None:
            return
        try:
            self._child.stdin.close()
        except OSError:
            pass
        self._reader.join(timeout=_default_budget(len(self._sent) - len(self._found)))
        if self._reader.is_alive():
            self._timed_out = True
            logger.warning("DNS: %d of %d lookups still running after the budget count as "
                           "dns_timeout", len(self._sent) - len(self._found), len(self._sent))
            self._child.kill()
            self._reader.join()
        self._child.wait()


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
    tasks = {asyncio.ensure_future(look_up_safely(resolver, name, slots)): name
             for name in names}
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
    for entry in settings.DNS_NAMESERVERS:
        try:
            parse_nameserver(entry)
        except ValueError as exc:
            raise ImproperlyConfigured(f"DNS_NAMESERVERS: {exc}") from None
    return make_resolver(list(settings.DNS_NAMESERVERS), settings.DNS_TIMEOUT_SECONDS)
