"""Domain checks that run ahead of an import (mailcheck.checks.DomainChecksAhead): a child
process (python -m mailcheck.lookups) looks up the domains handed over while the caller keeps
reading, against the real DNS server on loopback. Its verdicts and cache rows are those of
check_domains; a child that dies or overruns the budget loses nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from mailcheck import checks
from mailcheck.checks import DomainChecksAhead, DomainVerdict, check_domains
from mailcheck.models import DomainCheck
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.dns_server import LoopbackDNS

MIX = [
    "acme-mail.com", "afallback-corp.com", "ipv6only-corp.com", "nullmx-corp.com",
    "nomail-corp.com", "no-such-domain-corp.com", "broken-dns-corp.com", "bücher.com",
    "mailinator.com", "sub.mailinator.com", "com", "a" * 64 + ".com",
]


def _cache() -> set[tuple[str, str, str]]:
    return set(DomainCheck.objects.values_list("domain", "status", "reason"))


def _ahead(domains: list[str], **kwargs) -> tuple[dict, DomainChecksAhead]:
    with DomainChecksAhead(**kwargs) as ahead:
        for domain in domains:
            ahead.add(domain)
        return ahead.results(), ahead


def test_checks_ahead_give_the_verdicts_and_cache_of_check_domains(dns_server):
    expected = check_domains(MIX)
    cache = _cache()
    asked = {name for name, _type in dns_server.queries}
    DomainCheck.objects.all().delete()
    dns_server.clear_queries()

    verdicts, ahead = _ahead([*MIX, *MIX], batch=3)  # each domain once, in batches of 3

    assert verdicts == expected
    assert verdicts["nullmx-corp.com"] == DomainVerdict("invalid", "null_mx")
    assert verdicts["mailinator.com"] == DomainVerdict("risky", "disposable")
    assert verdicts["bücher.com"] == DomainVerdict("valid", "")
    assert _cache() == cache
    assert {name for name, _type in dns_server.queries} == asked
    assert ahead._child is not None and ahead._child.returncode == 0  # looked up by the child


def test_checks_ahead_ask_nothing_for_cached_and_disposable_domains(dns_server):
    check_domains(["acme-mail.com", "nullmx-corp.com"])
    dns_server.clear_queries()

    verdicts, ahead = _ahead(["acme-mail.com", "nullmx-corp.com", "mailinator.com"])

    assert verdicts["acme-mail.com"] == DomainVerdict("valid", "")
    assert dns_server.queries == []
    assert ahead._child is None  # nothing to look up: no process started


def test_checks_ahead_of_nothing_is_empty(dns_server):
    verdicts, ahead = _ahead([])
    assert verdicts == {} and ahead._child is None


def test_a_child_that_dies_loses_nothing(dns_server):
    expected = check_domains(MIX)
    DomainCheck.objects.all().delete()
    with DomainChecksAhead(batch=4) as ahead:
        for domain in MIX[:4]:
            ahead.add(domain)
        ahead._child.kill()  # gone mid-import: what it did not answer is looked up here
        ahead._child.wait()
        for domain in MIX[4:]:
            ahead.add(domain)
        verdicts = ahead.results()
    assert verdicts == expected
    assert DomainCheck.objects.filter(domain="acme-mail.com", status="valid").exists()


def test_lookups_still_running_after_the_budget_are_dns_timeout(dns_server, settings, monkeypatch):
    with LoopbackDNS() as stopped:  # a nameserver that never answers
        settings.DNS_NAMESERVERS = [stopped.address]
    settings.DNS_TIMEOUT_SECONDS = 30
    monkeypatch.setattr(checks, "_default_budget", lambda lookups: 0.5)

    async def not_again(names, budget):
        raise AssertionError("timed-out lookups must not be asked again in-process")

    monkeypatch.setattr(checks, "_look_up_all", not_again)

    verdicts, ahead = _ahead(["acme-mail.com", "example.org"])

    assert verdicts == dict.fromkeys(["acme-mail.com", "example.org"],
                                     DomainVerdict("unknown", "dns_timeout"))
    assert ahead._child.returncode is not None  # stopped, not left behind
    # Failures are cached briefly, as check_domains does.
    assert {row[1:] for row in _cache()} == {("unknown", "dns_timeout")}


def test_leaving_on_an_error_stops_the_child(dns_server):
    with pytest.raises(RuntimeError), DomainChecksAhead(batch=1) as ahead:
        ahead.add("acme-mail.com")
        child = ahead._child
        raise RuntimeError("the file is unreadable")
    assert child.poll() is not None
    assert DomainCheck.objects.count() == 0  # nothing stored for an analysis that failed


def test_checks_ahead_refuse_a_nameserver_that_is_not_an_address(dns_server, settings):
    settings.DNS_NAMESERVERS = ["dns.google:53"]
    with pytest.raises(ImproperlyConfigured, match="is not an IP address"):
        _ahead(["acme-mail.com"])
