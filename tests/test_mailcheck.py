"""Domain verdicts (mailcheck.checks) against a real DNS server on loopback, their cache in the
public schema, the disposable list with its allow-lists, and the support admin for both."""

from __future__ import annotations

from datetime import timedelta

import dns.message
import dns.query
import dns.rcode
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from mailcheck.checks import (
    FAILURE_TTL_SECONDS,
    DomainVerdict,
    check_domains,
    forget_allowlist,
    is_disposable,
)
from mailcheck.models import AllowedDomain, DomainCheck
from penguinleads.accounts.models import User
from tests.conftest import client_for, in_schema, make_user
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.dns_server import LoopbackDNS, LoopbackDNSProcess, generated_domains, mail_host

VALID = DomainVerdict("valid", "")


def age(domain: str, *, seconds: int) -> None:
    """Move a cached row `seconds` into the past, as if it had been checked that long ago."""
    row = DomainCheck.objects.get(domain=domain)
    row.checked_at -= timedelta(seconds=seconds)
    row.expires_at -= timedelta(seconds=seconds)
    row.save()


def public_rows(domain: str) -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT domain, status, reason FROM public.mailcheck_domaincheck WHERE domain = %s",
            [domain],
        )
        return cursor.fetchall()


# --- verdicts -----------------------------------------------------------------------------------


def test_check_domains_gives_each_verdict_kind(dns_server):
    verdicts = check_domains(
        [
            "acme-mail.com",
            "afallback-corp.com",
            "ipv6only-corp.com",
            "nullmx-corp.com",
            "no-such-domain-corp.com",
            "nomail-corp.com",
            "slow-dns-corp.com",
            "broken-dns-corp.com",
            "mailinator.com",
        ]
    )

    assert verdicts == {
        "acme-mail.com": VALID,
        "afallback-corp.com": VALID,
        "ipv6only-corp.com": VALID,
        "nullmx-corp.com": DomainVerdict("invalid", "null_mx"),
        "no-such-domain-corp.com": DomainVerdict("invalid", "no_such_domain"),
        "nomail-corp.com": DomainVerdict("invalid", "no_mail_host"),
        "slow-dns-corp.com": DomainVerdict("unknown", "dns_timeout"),
        "broken-dns-corp.com": DomainVerdict("unknown", "dns_error"),
        "mailinator.com": DomainVerdict("risky", "disposable"),
    }


def test_check_domains_asks_dns_nothing_about_disposable_domains(dns_server):
    verdicts = check_domains(["mailinator.com", "inbox.mailinator.com", "acme-mail.com"])

    assert verdicts["inbox.mailinator.com"] == DomainVerdict("risky", "disposable")
    assert dns_server.queries == [("acme-mail.com", "MX")]
    assert list(DomainCheck.objects.values_list("domain", flat=True)) == ["acme-mail.com"]


def test_check_domains_falls_back_to_addresses_only_without_mx(dns_server):
    check_domains(["acme-mail.com", "afallback-corp.com", "nomail-corp.com"])

    assert sorted(dns_server.queries) == [
        ("acme-mail.com", "MX"),
        ("afallback-corp.com", "A"),
        ("afallback-corp.com", "AAAA"),
        ("afallback-corp.com", "MX"),
        ("nomail-corp.com", "A"),
        ("nomail-corp.com", "AAAA"),
        ("nomail-corp.com", "MX"),
    ]


def test_check_domains_stores_mail_hosts_by_preference(dns_server):
    dns_server.domains["prefs-corp.com"] = {"mx": ["first.prefs-corp.com", "second.prefs-corp.com"]}

    check_domains(["prefs-corp.com", "afallback-corp.com", "nullmx-corp.com"])

    rows = dict(DomainCheck.objects.values_list("domain", "mx_hosts"))
    assert rows == {
        "prefs-corp.com": ["first.prefs-corp.com", "second.prefs-corp.com"],
        "afallback-corp.com": ["afallback-corp.com"],  # the implicit MX: the domain itself
        "nullmx-corp.com": [],
    }


def test_check_domains_accepts_idn_domain_as_punycode(dns_server):
    verdicts = check_domains(["xn--bcher-kva.com"])

    assert verdicts == {"xn--bcher-kva.com": VALID}
    assert dns_server.queries == [("xn--bcher-kva.com", "MX")]


def test_check_domains_converts_unicode_and_upper_case_domains(dns_server):
    verdicts = check_domains(["bücher.com", "ACME-Mail.com"])

    assert verdicts == {"bücher.com": VALID, "ACME-Mail.com": VALID}
    assert sorted(DomainCheck.objects.values_list("domain", flat=True)) == [
        "acme-mail.com",
        "xn--bcher-kva.com",
    ]


def test_check_domains_refuses_names_that_cannot_exist_without_dns(dns_server):
    long_label = "a" * 64 + ".com"
    verdicts = check_domains(["", "com", long_label, "dots..com"])

    assert verdicts == dict.fromkeys(
        ["", "com", long_label, "dots..com"], DomainVerdict("invalid", "no_such_domain")
    )
    assert dns_server.queries == []
    assert DomainCheck.objects.count() == 0


def test_check_domains_of_nothing_is_empty(dns_server):
    assert check_domains([]) == {}
    assert dns_server.queries == []


def test_check_domains_rejects_nameserver_that_is_not_an_address(dns_server, settings):
    settings.DNS_NAMESERVERS = ["dns.google:53"]

    with pytest.raises(ImproperlyConfigured) as error:
        check_domains(["acme-mail.com"])

    assert str(error.value) == "DNS_NAMESERVERS: 'dns.google:53' is not an IP address[:port]."


def test_check_domains_rejects_nameserver_with_bad_port(dns_server, settings):
    settings.DNS_NAMESERVERS = ["127.0.0.1:dns"]

    with pytest.raises(ImproperlyConfigured) as error:
        check_domains(["acme-mail.com"])

    assert str(error.value) == "DNS_NAMESERVERS: '127.0.0.1:dns' is not an IP address[:port]."


def test_check_domains_asks_the_next_nameserver_when_one_is_down(dns_server, settings):
    with LoopbackDNS() as stopped:
        down = stopped.address
    settings.DNS_NAMESERVERS = [down, dns_server.address]

    assert check_domains(["acme-mail.com"]) == {"acme-mail.com": VALID}


def test_check_domains_reports_unreachable_nameserver_as_unknown(dns_server, settings):
    with LoopbackDNS() as stopped:
        address = stopped.address
    settings.DNS_NAMESERVERS = [address]

    verdict = check_domains(["acme-mail.com"])["acme-mail.com"]

    # Whether the refusal or the silence is noticed first depends on dnspython; never "invalid".
    assert verdict in {
        DomainVerdict("unknown", "dns_timeout"),
        DomainVerdict("unknown", "dns_error"),
    }


# --- the cache ----------------------------------------------------------------------------------


def test_check_domains_second_call_makes_no_dns_query(dns_server):
    domains = ["acme-mail.com", "nullmx-corp.com", "no-such-domain-corp.com", "afallback-corp.com"]
    first = check_domains(domains)
    dns_server.clear_queries()

    second = check_domains(domains)

    assert second == first
    assert dns_server.queries == []


def test_check_domains_requeries_expired_entries(dns_server, settings):
    check_domains(["acme-mail.com"])
    row = DomainCheck.objects.get(domain="acme-mail.com")
    assert row.expires_at - row.checked_at == timedelta(seconds=settings.DNS_CACHE_TTL_SECONDS)
    dns_server.domains["acme-mail.com"] = {"null_mx": True}  # the domain stopped taking mail
    age("acme-mail.com", seconds=settings.DNS_CACHE_TTL_SECONDS + 1)
    dns_server.clear_queries()

    verdicts = check_domains(["acme-mail.com"])

    assert verdicts == {"acme-mail.com": DomainVerdict("invalid", "null_mx")}
    assert dns_server.queries == [("acme-mail.com", "MX")]
    assert public_rows("acme-mail.com") == [("acme-mail.com", "invalid", "null_mx")]


def test_check_domains_retries_failures_after_their_short_ttl(dns_server):
    check_domains(["slow-dns-corp.com", "broken-dns-corp.com"])
    rows = DomainCheck.objects.order_by("domain")
    assert [row.expires_at - row.checked_at for row in rows] == [
        timedelta(seconds=FAILURE_TTL_SECONDS)
    ] * 2
    dns_server.domains["slow-dns-corp.com"] = {"mx": ["mx.slow-dns-corp.com"]}
    dns_server.domains["broken-dns-corp.com"] = {"mx": ["mx.broken-dns-corp.com"]}
    dns_server.clear_queries()

    still_cached = check_domains(["slow-dns-corp.com", "broken-dns-corp.com"])
    age("slow-dns-corp.com", seconds=FAILURE_TTL_SECONDS + 1)
    age("broken-dns-corp.com", seconds=FAILURE_TTL_SECONDS + 1)
    retried = check_domains(["slow-dns-corp.com", "broken-dns-corp.com"])

    assert still_cached == {
        "slow-dns-corp.com": DomainVerdict("unknown", "dns_timeout"),
        "broken-dns-corp.com": DomainVerdict("unknown", "dns_error"),
    }
    assert retried == {"slow-dns-corp.com": VALID, "broken-dns-corp.com": VALID}
    assert sorted(dns_server.queries) == [
        ("broken-dns-corp.com", "MX"),
        ("slow-dns-corp.com", "MX"),
    ]


def test_check_domains_caches_only_domain_facts():
    fields = {field.name for field in DomainCheck._meta.get_fields()}

    assert fields == {"id", "domain", "status", "reason", "mx_hosts", "checked_at", "expires_at"}


# --- concurrency and the time bound -------------------------------------------------------------


def test_check_domains_looks_up_concurrently_when_some_never_answer(dns_server):
    live = generated_domains(80)
    dead = generated_domains(20, stem="gone")
    dns_server.resolve = lambda name: "timeout" if name.startswith("gone") else mail_host(name)

    # One lookup at a time, the 20 silent domains alone would use up the call's budget
    # (2 × timeout + margin) and leave live domains unchecked.
    verdicts = check_domains(dead + live)

    assert verdicts == {
        **dict.fromkeys(live, VALID),
        **dict.fromkeys(dead, DomainVerdict("unknown", "dns_timeout")),
    }


def test_check_domains_gives_up_on_lookups_still_running_at_its_budget(dns_server, settings):
    settings.DNS_TIMEOUT_SECONDS = 30
    dns_server.domains["late-answer-corp.com"] = {"mx": ["mx.late-answer-corp.com"], "delay": 3}

    verdicts = check_domains(["late-answer-corp.com", "acme-mail.com"], budget_seconds=0.5)

    assert verdicts == {
        "late-answer-corp.com": DomainVerdict("unknown", "dns_timeout"),
        "acme-mail.com": VALID,
    }
    assert public_rows("late-answer-corp.com") == [
        ("late-answer-corp.com", "unknown", "dns_timeout")
    ]


def test_check_domains_serves_hundreds_of_concurrent_lookups(dns_server, settings):
    settings.DNS_CONCURRENCY = 300
    domains = generated_domains(300)
    dns_server.resolve = mail_host

    verdicts = check_domains(domains)

    assert verdicts == dict.fromkeys(domains, VALID)
    assert dns_server.queried_names() == set(domains)


def test_loopback_dns_answers_over_tcp(dns_server):
    query = dns.message.make_query("acme-mail.com", "MX")

    response = dns.query.tcp(query, "127.0.0.1", port=dns_server.port, timeout=5)

    assert len(response.answer) == 1
    assert sorted(record.to_text() for record in response.answer[0]) == [
        "10 mx1.acme-mail.com.",
        "20 mx2.acme-mail.com.",
    ]


def test_loopback_dns_process_answers_and_counts_queries():
    with LoopbackDNSProcess({"acme-mail.com": {"mx": ["mx1.acme-mail.com"]}}) as server:
        query = dns.message.make_query("acme-mail.com", "MX")
        answer = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=5)
        missing = dns.query.udp(
            dns.message.make_query("other-corp.com", "MX"), "127.0.0.1", port=server.port, timeout=5
        )
        counted = server.query_count()
        server.clear_queries()

        assert [rrset.to_text() for rrset in answer.answer] == [
            "acme-mail.com. 300 IN MX 10 mx1.acme-mail.com."
        ]
        assert dns.rcode.to_text(missing.rcode()) == "NXDOMAIN"
        assert counted == 2
        assert server.query_count() == 0


# --- disposable domains and the allow-lists ------------------------------------------------------


def test_is_disposable_matches_listed_domains_and_their_subdomains(dns_server):
    assert is_disposable("mailinator.com") is True
    assert is_disposable("inbox.mailinator.com") is True
    assert is_disposable("acme-mail.com") is False
    assert is_disposable("xmailinator.com") is False  # a suffix of the name, not a parent
    assert is_disposable("mailinator.com.au") is False
    assert is_disposable("com") is False


def test_is_disposable_honours_allowed_domain_rows(dns_server):
    AllowedDomain.objects.create(domain="mailinator.com", note="a customer's real domain")
    forget_allowlist()

    assert is_disposable("mailinator.com") is False
    assert is_disposable("inbox.mailinator.com") is False
    assert is_disposable("guerrillamail.com") is True
    assert check_domains(["mailinator.com"]) == {
        "mailinator.com": DomainVerdict("invalid", "no_such_domain")  # asked DNS instead
    }
    assert dns_server.queries == [("mailinator.com", "MX")]


def test_is_disposable_remembers_allowed_domains_until_forgotten(dns_server):
    assert is_disposable("mailinator.com") is True
    AllowedDomain.objects.create(domain="mailinator.com")

    remembered = is_disposable("mailinator.com")
    forget_allowlist()

    assert remembered is True
    assert is_disposable("mailinator.com") is False


def test_is_disposable_honours_allowlist_setting(dns_server, settings):
    settings.DISPOSABLE_ALLOWLIST = ["Mailinator.com"]

    assert is_disposable("mailinator.com") is False
    assert check_domains(["mailinator.com", "guerrillamail.com"]) == {
        "mailinator.com": DomainVerdict("invalid", "no_such_domain"),
        "guerrillamail.com": DomainVerdict("risky", "disposable"),
    }


# --- tenants: the cache is one shared table in the public schema --------------------------------


def test_check_domains_from_a_tenant_schema_writes_the_public_cache(dns_server, tenant):
    assert connection.schema_name == "alpha"

    verdicts = check_domains(["acme-mail.com"])

    assert verdicts == {"acme-mail.com": VALID}
    assert public_rows("acme-mail.com") == [("acme-mail.com", "valid", "")]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables"
            " WHERE table_name = 'mailcheck_domaincheck'"
        )
        assert cursor.fetchall() == [("public",)]


def test_check_domains_shares_one_cache_row_between_tenants(dns_server, tenant, other_tenant):
    first = check_domains(["acme-mail.com", "nullmx-corp.com"])
    dns_server.clear_queries()
    with in_schema(other_tenant):
        second = check_domains(["acme-mail.com", "nullmx-corp.com"])

    assert second == first
    assert dns_server.queries == []
    assert public_rows("acme-mail.com") == [("acme-mail.com", "valid", "")]
    assert public_rows("nullmx-corp.com") == [("nullmx-corp.com", "invalid", "null_mx")]


# --- the support admin --------------------------------------------------------------------------


class PublicClient(Client):
    """Puts the test's connection back in its schema after each request (a request switches
    it to the schema of its host)."""

    def request(self, **request):
        previous = connection.tenant
        try:
            return super().request(**request)
        finally:
            connection.set_tenant(previous)


@pytest.fixture
def staff_client(dns_server) -> PublicClient:
    with schema_context("public"):
        staff = User.objects.create_superuser("mx-staff@penguin-support.com", "staff-pass-123")
    client = PublicClient(HTTP_HOST="localhost")
    with schema_context("public"):
        client.force_login(staff)
    return client


def test_domain_check_admin_lists_searches_and_filters(staff_client):
    check_domains(["acme-mail.com", "nullmx-corp.com", "no-such-domain-corp.com"])

    everything = staff_client.get("/admin/mailcheck/domaincheck/").content.decode()
    searched = staff_client.get("/admin/mailcheck/domaincheck/?q=acme").content.decode()
    filtered = staff_client.get("/admin/mailcheck/domaincheck/?reason=null_mx").content.decode()

    assert all(name in everything for name in ["acme-mail.com", "nullmx-corp.com"])
    assert "acme-mail.com" in searched and "nullmx-corp.com" not in searched
    assert "nullmx-corp.com" in filtered and "no-such-domain-corp.com" not in filtered


def test_domain_check_admin_is_read_only(staff_client):
    check_domains(["acme-mail.com"])
    row = DomainCheck.objects.get(domain="acme-mail.com")

    add = staff_client.get("/admin/mailcheck/domaincheck/add/")
    change = staff_client.post(
        f"/admin/mailcheck/domaincheck/{row.pk}/change/", {"status": "invalid"}
    )

    assert add.status_code == 403
    assert change.status_code == 403
    assert DomainCheck.objects.get(domain="acme-mail.com").status == "valid"


def test_domain_check_admin_forgets_selected_so_next_check_asks_dns(staff_client, dns_server):
    check_domains(["acme-mail.com", "nullmx-corp.com"])
    acme = DomainCheck.objects.get(domain="acme-mail.com")
    dns_server.clear_queries()

    response = staff_client.post(
        "/admin/mailcheck/domaincheck/",
        {"action": "forget_selected", "_selected_action": [acme.pk]},
        follow=True,
    )
    check_domains(["acme-mail.com", "nullmx-corp.com"])

    assert "Forgot 1 domain check(s)." in response.content.decode()
    assert dns_server.queries == [("acme-mail.com", "MX")]


def test_allowed_domain_admin_saves_normalised_domain_and_applies_it_at_once(staff_client):
    assert is_disposable("mailinator.com") is True  # now remembered for a minute

    response = staff_client.post(
        "/admin/mailcheck/alloweddomain/add/", {"domain": " MAILINATOR.com. ", "note": "ours"}
    )

    assert response.status_code == 302
    assert list(AllowedDomain.objects.values_list("domain", "note")) == [("mailinator.com", "ours")]
    assert is_disposable("mailinator.com") is False


def test_allowed_domain_admin_refuses_a_name_that_is_not_a_domain(staff_client):
    response = staff_client.post("/admin/mailcheck/alloweddomain/add/", {"domain": "com"})

    assert "Enter a domain name such as mailinator.com." in response.content.decode()
    assert AllowedDomain.objects.count() == 0


def test_allowed_domain_admin_delete_applies_at_once(staff_client):
    allowed = AllowedDomain.objects.create(domain="mailinator.com")
    forget_allowlist()
    assert is_disposable("mailinator.com") is False

    response = staff_client.post(
        f"/admin/mailcheck/alloweddomain/{allowed.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 302
    assert is_disposable("mailinator.com") is True


def test_tenant_admin_does_not_show_shared_mail_tables(dns_server, tenant, other_tenant):
    check_domains(["acme-mail.com"])
    AllowedDomain.objects.create(domain="mailinator.com")
    staff = make_user(other_tenant, "admin", email="staff@beta-corp.com")
    with in_schema(other_tenant):
        staff.is_staff = staff.is_superuser = True
        staff.save()
    client = client_for(other_tenant, staff)

    index = client.get("/admin/")
    pages = [
        client.get("/admin/mailcheck/domaincheck/"),
        client.get("/admin/mailcheck/alloweddomain/"),
        client.get("/admin/mailcheck/alloweddomain/add/"),
    ]

    assert index.status_code == 200
    assert b"mailcheck" not in index.content.lower()
    assert [page.status_code for page in pages] == [403, 403, 403]
