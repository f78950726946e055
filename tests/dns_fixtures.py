"""The `dns_server` fixture: a real DNS server on loopback that the MX checks talk to.

    from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")

(The function has another name than the fixture so that tests taking `dns_server` do not
redefine an imported name, which ruff reports as F811.)

It serves DOMAINS (realistic names: email-validator refuses special-use ones such as .test),
points settings.DNS_NAMESERVERS at itself, shortens the DNS timeout so "never answers" costs a
second, and empties the DomainCheck cache and the allow-list memo. Tests may change
`dns_server.domains` or set `dns_server.resolve`; `dns_server.queries` lists what was asked.
"""

from __future__ import annotations

import pytest

from mailcheck.checks import forget_allowlist
from mailcheck.models import DomainCheck
from tests.dns_server import LoopbackDNS

DOMAINS = {
    # valid: MX hosts
    "acme-mail.com": {"mx": ["mx1.acme-mail.com", "mx2.acme-mail.com"]},
    "gmail.com": {"mx": ["gmail-smtp-in.l.google.com"]},
    "outlook.com": {"mx": ["outlook-com.olc.protection.outlook.com"]},
    "example.com": {"mx": ["mx.example.com"]},
    "example.org": {"mx": ["mx.example.org"]},
    "xn--bcher-kva.com": {"mx": ["mx.xn--bcher-kva.com"]},  # bücher.com
    # valid: no MX, mail goes to the A / AAAA address
    "afallback-corp.com": {"a": ["192.0.2.1"]},
    "ipv6only-corp.com": {"aaaa": ["2001:db8::1"]},
    # invalid
    "nullmx-corp.com": {"null_mx": True},
    "nomail-corp.com": {},  # exists, no MX and no address
    # unknown
    "slow-dns-corp.com": "timeout",
    "broken-dns-corp.com": "servfail",
    # any other name: NXDOMAIN (invalid/no_such_domain), e.g. no-such-domain-corp.com
}
TIMEOUT_SECONDS = 1.0


@pytest.fixture(name="dns_server")
def dns_server_fixture(db, settings):
    forget_allowlist()
    with LoopbackDNS(DOMAINS) as server:
        settings.DNS_NAMESERVERS = [server.address]
        settings.DNS_TIMEOUT_SECONDS = TIMEOUT_SECONDS
        DomainCheck.objects.all().delete()
        yield server
    forget_allowlist()
