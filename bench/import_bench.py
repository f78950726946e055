"""Import benchmark: a 1,000,000-row CSV into a tenant that already holds 1,000,000 contacts.

    .venv/bin/python bench/import_bench.py [--rows 1000000] [--peer-rows 50000] [--skip-peer]

The file: email, first/last name, company and two custom columns; 5,000 distinct domains served
by a real DNS server on loopback (cold cache: every domain is looked up); 2% invalid emails; 1%
duplicated in the file; half of its emails already exist. It is imported with strategy update,
full validation and rollback history by `manage.py import_contacts` in a child process (wall
time and that process's peak memory are measured), then rolled back (timed, which also restores
the tenant for the next run; the history tables are reset to one record per contact first, so
every run writes into tables of the same size; each timed step starts right after a
CHECKPOINT, so no step pays for the writes of the one before). After each import and
rollback, the statistics refresh it queued is run here as a worker would, and timed apart.
Then: a 100,000-row XLSX import; the same rows through raw PostgreSQL COPY + INSERT … ON
CONFLICT as the floor; and django-import-export in bulk mode into an empty tenant as the peer
(on --peer-rows rows: at its speed the full file takes many minutes; its rows/s are measured
and the time for the full file is extrapolated).
Generated files are kept in bench/.data/ (git-ignored) and reused.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from contacts.models import Contact, CustomField  # noqa: E402
from mailcheck.models import DomainCheck  # noqa: E402
from penguinleads.tenants.models import Tenant  # noqa: E402
from penguinleads.tenants.services import create_tenant, ensure_public_tenant  # noqa: E402
from tests.dns_server import LoopbackDNSProcess, generated_domains, mail_host  # noqa: E402

DATA = ROOT / "bench" / ".data"
SCHEMA, PEER_SCHEMA = "bench_import", "bench_peer"
DOMAINS = generated_domains(5000)
MAPPING = {"email": "email", "first_name": "first_name", "last_name": "last_name",
           "company": "company", "plan": "custom:plan", "seats": "custom:seats"}
FIRST = ["Ann", "Bob", "Cleo", "Dev", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jade"]
LAST = ["Smith", "Jones", "Berg", "Novak", "Rossi", "Kim", "Silva", "Weber", "Dubois", "Tanaka"]


def email_of(n: int) -> str:
    return f"user{n}@{DOMAINS[n % len(DOMAINS)]}"


def ensure_tenant(schema: str, existing: int) -> None:
    ensure_public_tenant(domain=settings.PUBLIC_DOMAIN)
    if not Tenant.objects.filter(schema_name=schema).exists():
        create_tenant(schema_name=schema, domain=f"{schema.replace('_', '-')}.localhost",
                      name=schema, owner_email=f"owner@{schema}.example.com",
                      owner_password="bench-pass-123")
    with schema_context(schema):
        for key, kind in (("plan", "text"), ("seats", "number")):
            CustomField.objects.get_or_create(key=key, defaults={"label": key.title(),
                                                                 "field_type": kind})
        if Contact.objects.count() != existing:
            print(f"  preparing {existing:,} existing contacts in {schema} …", flush=True)
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE contacts_contact, contacts_contacttag, "
                               "contacts_contactchange CASCADE")
                if existing:
                    cursor.execute(
                        """INSERT INTO contacts_contact (email, email_normalized, first_name,
                               last_name, company, job_title, phone, website, city, country,
                               custom_fields, status, validation_status, validation_reason,
                               source, created_at, updated_at)
                           SELECT e, e, 'Old', 'Name', 'Old Co', '', '', '', '', '', '{}',
                                  'active', 'unknown', '', 'bench', now(), now()
                           FROM (SELECT 'user' || n || '@lead' || (n %% 5000 + 1) || '-mail.com'
                                 AS e FROM generate_series(0, %s - 1) n) g""", [existing])
                cursor.execute("VACUUM ANALYZE contacts_contact")
        # Every run starts from the same history: one 'created' record per contact (as their
        # own import would have left) and no earlier imports. Without this reset each run's
        # import and rollback added ~2M history rows, and the next run wrote into ever bigger
        # tables and indexes (88 → 98 s over five runs of the same code).
        print(f"  resetting the history of {schema} to one record per contact …", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE contacts_contactchange, imports_importchange, "
                           "imports_importrowerror, imports_importjob CASCADE")
            cursor.execute("""INSERT INTO contacts_contactchange (contact_id, contact_email,
                                  action, changes, actor_id, source, created_at)
                              SELECT id, email, 'created', '{}', NULL, 'bench', created_at
                              FROM contacts_contact""")
            cursor.execute("VACUUM ANALYZE contacts_contactchange")
            cursor.execute("VACUUM ANALYZE imports_importchange")
            # The last run's import and rollback left ~1.5M dead row versions of contacts:
            # vacuumed here, autovacuum would clean them up during the timed import instead
            # (found by sampling pg_stat_activity: a vacuum worker busy through the writes).
            cursor.execute("VACUUM ANALYZE contacts_contact")


def write_csv(path: Path, rows: int) -> None:
    if path.exists():
        return
    print(f"  writing {path.name} …", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = rows // 2  # half the file overlaps the existing user0 … user999999
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name", "last_name", "company", "plan", "seats"])
        for i in range(rows):
            n = start + i
            email = email_of(n)
            if i % 50 == 7:
                email = email.replace("@", "-at-")  # 2% invalid
            elif i % 100 == 11:
                email = email_of(n - 1)  # 1% duplicate of the row before
            writer.writerow([email, FIRST[n % 10], LAST[n % 7], f"Company {n % 9000}",
                             ("free", "pro", "team")[n % 3], n % 250])


def write_xlsx(path: Path, rows: int) -> None:
    if path.exists():
        return
    from openpyxl import Workbook

    print(f"  writing {path.name} …", flush=True)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Contacts")
    sheet.append(["Email", "First Name", "Last Name", "Company", "Plan", "Seats"])
    for i in range(rows):
        n = 2_000_000 + i
        sheet.append([email_of(n), FIRST[n % 10], LAST[n % 7], f"Company {n % 9000}", "pro",
                      n % 250])
    book.save(path)


def run_command(args: list[str], env: dict) -> tuple[float, dict, int]:
    """Run a manage.py command; return (seconds, its --json summary, its peak RSS in MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "manage.py", *args, "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{result.stdout}\n{result.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    _print_steps(result.stderr)
    return seconds, summary, max(peak, before) // 1024


def _print_steps(log: str) -> None:
    """The child's per-step timings (logged by imports.services)."""
    steps = [line.split(": ", 1)[1] for line in log.splitlines() if " took " in line]
    chunks = [float(s.rsplit(" took ", 1)[1].split()[0]) for s in steps if s.startswith("chunk")]
    for step in steps:
        if not step.startswith("chunk"):
            print(f"      {step}")
    for line in log.splitlines():  # a big CSV's second half is read by a helper process
        if "staging helper read" in line:
            print(f"      {line.split(': ', 1)[1]}")
    if chunks:
        print(f"      ({len(chunks)} chunk transactions, summed over the writing connections: "
              f"{sum(chunks):.2f} s)")


def ours(path: Path, env: dict, label: str) -> tuple[float, dict]:
    with schema_context("public"):
        DomainCheck.objects.filter(domain__in=DOMAINS).delete()  # cold: every domain looked up
    mapping_file = DATA / "mapping.json"
    mapping_file.write_text(json.dumps(
        MAPPING if path.suffix == ".csv" else {k.replace("_", " ").title(): v
                                               for k, v in MAPPING.items()}))
    settle()
    seconds, summary, peak = run_command(
        ["import_contacts", str(path), "--tenant", SCHEMA, "--strategy", "update",
         "--mapping", str(mapping_file)], env)
    rows = summary["total_rows"]
    print(f"{label:<44} {seconds:7.1f} s  {rows / seconds:>10,.0f} rows/s  peak {peak:,} MB")
    print(f"{'':<44} created {summary['created']:,}  updated {summary['updated']:,}  "
          f"invalid {summary['invalid']:,}  duplicates in file {summary['duplicates_in_file']:,}")
    return seconds, summary


def rollback(import_id: int, env: dict, label: str) -> None:
    settle()
    seconds, summary, _peak = run_command(
        ["rollback_import", str(import_id), "--tenant", SCHEMA], env)
    print(f"{label:<44} {seconds:7.1f} s  (deleted {summary['deleted']:,}, restored "
          f"{summary['restored']:,})")


def settle() -> None:
    """CHECKPOINT before a timed step: what the steps before it left dirty (the setup's million
    history rows and VACUUMs, the last rollback, the floor's copy of the table) is written out
    now, not by a checkpoint in the middle of the step being timed. Every timed step (ours,
    its rollback, the XLSX import, the floor) starts from this same state."""
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def follow_up_jobs() -> None:
    """Run the statistics refresh the import or rollback queued (a worker would) and print how
    long it took: not part of the import's time, but work the database does because of it."""
    from django_q.models import OrmQ

    from imports.tasks import refresh_statistics_task

    for queued in OrmQ.objects.all():
        task = queued.task
        if task["func"] != "imports.tasks.refresh_statistics_task":
            continue
        started = time.perf_counter()
        done = refresh_statistics_task(*task["args"])
        what = [f"VACUUM {table}" for table in done["vacuumed"]]
        what += [f"ANALYZE {table}" for table in done["analysed"] if table not in done["vacuumed"]]
        print(f"{'':<44} then, as a follow-up job: statistics refresh "
              f"{time.perf_counter() - started:.1f} s ({', '.join(what) or 'no ANALYZE'})")
        queued.delete()


def copy_floor(path: Path) -> float:
    """Raw COPY of the file into a staging table + one INSERT … ON CONFLICT DO UPDATE into a
    copy of the tenant's contact table (same indexes, same 1M rows); no validation."""
    with schema_context(SCHEMA), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS floor_contacts")
        cursor.execute("CREATE TABLE floor_contacts (LIKE contacts_contact INCLUDING ALL)")
        columns = ", ".join(
            f.column for f in Contact._meta.concrete_fields
        )
        cursor.execute(f"INSERT INTO floor_contacts ({columns}) "
                       f"SELECT {columns} FROM contacts_contact")
        cursor.execute("SELECT setval(pg_get_serial_sequence('floor_contacts', 'id'), "
                       "(SELECT max(id) FROM floor_contacts))")
        cursor.execute("VACUUM ANALYZE floor_contacts")
        settle()
        started = time.perf_counter()
        cursor.execute("CREATE UNLOGGED TABLE floor_stage (email text, first_name text, "
                       "last_name text, company text, plan text, seats text)")
        with path.open("rb") as handle, cursor.cursor.copy(
                "COPY floor_stage FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        cursor.execute(
            """INSERT INTO floor_contacts (email, email_normalized, first_name, last_name,
                   company, job_title, phone, website, city, country, custom_fields, status,
                   validation_status, validation_reason, source, created_at, updated_at)
               SELECT DISTINCT ON (lower(email)) email, lower(email), first_name, last_name,
                      company, '', '', '', '', '', jsonb_build_object('plan', plan, 'seats',
                      seats::int), 'active', 'unknown', '', 'floor', now(), now()
               FROM floor_stage
               ON CONFLICT (email_normalized) DO UPDATE SET first_name = EXCLUDED.first_name,
                   last_name = EXCLUDED.last_name, company = EXCLUDED.company,
                   custom_fields = floor_contacts.custom_fields || EXCLUDED.custom_fields,
                   updated_at = now()""")
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE floor_stage")
        cursor.execute("DROP TABLE floor_contacts")
    return seconds


def peer(path: Path, rows: int) -> float:
    """django-import-export in bulk mode, on the first `rows` rows, into an empty tenant."""
    import tablib
    from import_export import fields, resources

    class PeerResource(resources.ModelResource):
        email_normalized = fields.Field(attribute="email_normalized",
                                        column_name="email_normalized")

        class Meta:
            model = Contact
            fields = ("email", "email_normalized", "first_name", "last_name", "company")
            import_id_fields = ("email_normalized",)
            use_bulk = True
            batch_size = 1000
            skip_diff = True
            skip_unchanged = False
            report_skipped = False



    with path.open() as handle:
        lines = [next(handle) for _ in range(rows + 1)]
    # Its bulk mode fails whole batches on in-file duplicates: give it the rows without them.
    seen: set[str] = set()
    unique = [lines[0]]
    for line in lines[1:]:
        key = line.split(",", 1)[0].strip().lower()
        if key not in seen:
            seen.add(key)
            unique.append(line)
    lines = unique
    dataset = tablib.Dataset().load("".join(lines), format="csv")
    # The peer's lookup key; it does no other normalising or checking.
    dataset.append_col([e.strip().lower() for e in dataset["email"]], header="email_normalized")
    ensure_tenant(PEER_SCHEMA, 0)
    with schema_context(PEER_SCHEMA):
        started = time.perf_counter()
        result = PeerResource().import_data(dataset, dry_run=False, use_transactions=True)
        seconds = time.perf_counter() - started
        imported = Contact.objects.count()
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE contacts_contact CASCADE")
    if result.has_errors():
        first = (result.base_errors or [None])[0] or next(
            (row.errors[0] for row in result.rows if row.errors), None)
        print(f"  (the peer reported errors: {getattr(first, 'error', first)!r})")
    if result.has_validation_errors():
        print(f"  (the peer refused {len(result.invalid_rows):,} rows: "
              f"{result.invalid_rows[0].error_dict if result.invalid_rows else ''})")
    return seconds if imported else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    parser.add_argument("--peer-rows", type=int, default=50_000)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--xlsx-only", action="store_true",
                        help="only the XLSX import and its rollback (no CSV, floor or peer)")
    parser.add_argument("--ours-seconds", type=float,
                        help="skip our runs and use this figure of an earlier run for the ratios")
    args = parser.parse_args()
    csv_path = DATA / f"import_{args.rows}.csv"
    xlsx_path = DATA / f"import_{args.xlsx_rows}.xlsx"
    print("setting up …", flush=True)
    ensure_tenant(SCHEMA, 1_000_000)
    write_csv(csv_path, args.rows)
    write_xlsx(xlsx_path, args.xlsx_rows)
    if args.xlsx_only:
        with LoopbackDNSProcess(resolve=mail_host) as dns:
            xlsx_run(args, xlsx_path, {**os.environ, "DNS_NAMESERVERS": dns.address})
        return
    if args.ours_seconds:
        ours_s = args.ours_seconds
    else:
        ours_s = run_ours(args, csv_path, xlsx_path)
    floor_and_peer(args, csv_path, ours_s)


def run_ours(args, csv_path: Path, xlsx_path: Path) -> float:
    with LoopbackDNSProcess(resolve=mail_host) as dns:
        env = {**os.environ, "DNS_NAMESERVERS": dns.address}
        print(f"\n{args.rows:,}-row CSV into {SCHEMA} (1,000,000 contacts, 50% overlap), "
              "strategy update, 5,000 domains on a loopback DNS server (cold cache):")
        ours_s, summary = ours(csv_path, env, "  ours: import_contacts")
        follow_up_jobs()
        print(f"  DNS queries answered by the loopback server: {dns.query_count():,}")
        rollback(summary["import_id"], env, "  rollback of that import")
        follow_up_jobs()
        xlsx_run(args, xlsx_path, env)
    return ours_s


def xlsx_run(args, xlsx_path: Path, env: dict) -> None:
    _xlsx_s, xlsx_summary = ours(xlsx_path, env, f"  ours: {args.xlsx_rows:,}-row XLSX")
    follow_up_jobs()
    rollback(xlsx_summary["import_id"], env, "  rollback of the XLSX import")
    follow_up_jobs()


def floor_and_peer(args, csv_path: Path, ours_s: float) -> None:
    floor_s = copy_floor(csv_path)
    print(f"{'  floor: COPY + INSERT … ON CONFLICT':<44} {floor_s:7.1f} s  "
          f"{args.rows / floor_s:>10,.0f} rows/s")
    print(f"\n  ours / COPY floor (throughput ratio, target ≥ 0.35): {floor_s / ours_s:.2f}")
    if not args.skip_peer:
        peer_s = peer(csv_path, args.peer_rows)
        peer_rate = args.peer_rows / peer_s
        print(f"{'  peer: django-import-export (bulk)':<44} {peer_s:7.1f} s  "
              f"{peer_rate:>10,.0f} rows/s on {args.peer_rows:,} rows "
              f"(≈ {args.rows / peer_rate / 60:,.1f} min for the full file)")
        print(f"  django-import-export time / ours, per row (target ≥ 15×): "
              f"{(args.rows / ours_s) / peer_rate:,.1f}×")


if __name__ == "__main__":
    main()
