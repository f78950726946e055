"""Benchmark: domain verdicts (mailcheck.checks.check_domains) for N distinct domains.

    .venv/bin/python bench/mx_bench.py [--domains 5000] [--silent 0] [--concurrency 64]
                                       [--rounds 5] [--in-process]

A real DNS server on loopback (tests/dns_server.py) answers for the generated domains: 90% have
MX hosts, 5% only an A record, 3% do not exist, 2% have a null MX; `--silent` more never answer.
The server runs in a child process (as a real resolver would run elsewhere); `--in-process`
runs it in a thread of this process instead, as the tests do, sharing this process's GIL.
Their DomainCheck rows (public schema of the development database) are deleted first, so the
first call is cold: every domain is looked up and upserted. Then `--rounds` warm calls read the
cache only. Prints wall times, throughput, DNS queries sent and the verdicts. The bench's rows
are deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from mailcheck.checks import check_domains  # noqa: E402
from mailcheck.models import DomainCheck  # noqa: E402
from tests.dns_server import LoopbackDNS, LoopbackDNSProcess, generated_domains  # noqa: E402

STEM = "mxbench"


def behaviour(name: str):
    """The mix of answers: by the domain's number, so each run sees the same."""
    if name.startswith(f"{STEM}silent"):
        return "timeout"
    if not name.startswith(STEM):
        return None
    number = int(name.removeprefix(STEM).partition("-")[0])
    if number % 100 < 5:
        return {"a": ["192.0.2.10"]}
    if number % 100 < 8:
        return None  # NXDOMAIN
    if number % 100 < 10:
        return {"null_mx": True}
    return {"mx": [f"mx1.{name}", f"mx2.{name}"]}


def silent_domains(count: int) -> list[str]:
    return [f"{STEM}silent{number}-mail.com" for number in range(1, count + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", type=int, default=5000)
    parser.add_argument("--silent", type=int, default=0, help="domains whose DNS never answers")
    parser.add_argument("--concurrency", type=int, default=settings.DNS_CONCURRENCY)
    parser.add_argument("--rounds", type=int, default=5, help="warm calls")
    parser.add_argument("--in-process", action="store_true", help="serve DNS from a thread")
    args = parser.parse_args()

    domains = generated_domains(args.domains, stem=STEM) + silent_domains(args.silent)
    settings.DNS_CONCURRENCY = args.concurrency
    server_class = LoopbackDNS if args.in_process else LoopbackDNSProcess
    with server_class(resolve=behaviour) as server:
        settings.DNS_NAMESERVERS = [server.address]
        DomainCheck.objects.filter(domain__startswith=STEM).delete()
        try:
            run(server, domains, args)
        finally:
            DomainCheck.objects.filter(domain__startswith=STEM).delete()


def run(server, domains: list[str], args) -> None:
    print(
        f"{len(domains):,} distinct domains ({args.silent:,} silent), concurrency "
        f"{settings.DNS_CONCURRENCY}, DNS timeout {settings.DNS_TIMEOUT_SECONDS:g} s, server "
        f"{'in this process' if args.in_process else 'in a child process'}"
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    verdicts = check_domains(domains)
    cold, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    cold_queries = query_count(server)
    counts = Counter(f"{v.status}/{v.reason}" if v.reason else v.status for v in verdicts.values())
    print(
        f"cold: {cold:.2f} s wall ({cpu:.2f} s CPU in this process), "
        f"{len(domains) / cold:,.0f} domains/s, {cold_queries:,} DNS queries, "
        f"{DomainCheck.objects.filter(domain__startswith=STEM).count():,} rows cached"
    )
    print("verdicts: " + ", ".join(f"{key} {count:,}" for key, count in sorted(counts.items())))

    server.clear_queries()
    warm = []
    for _round in range(args.rounds):
        started = time.perf_counter()
        check_domains(domains)
        warm.append(time.perf_counter() - started)
    print(
        f"warm: median {statistics.median(warm) * 1000:.0f} ms (min {min(warm) * 1000:.0f}, "
        f"max {max(warm) * 1000:.0f}) over {args.rounds} calls, "
        f"{len(domains) / statistics.median(warm):,.0f} domains/s, "
        f"{query_count(server)} DNS queries"
    )


def query_count(server) -> int:
    return len(server.queries) if isinstance(server, LoopbackDNS) else server.query_count()


if __name__ == "__main__":
    main()
