"""The embedded PostgreSQL used when DATABASE_URL is unset.

Every process that loads the settings (runserver, the worker, manage.py commands, pytest) calls
`ensure_embedded_database`, so they all share one server whose data lives in `.pgdata/` at the
top of the checkout. pgserver keeps a list of the processes using it and stops the server when
the last one exits; starting it again takes well under a second.
"""

from __future__ import annotations

import os
import warnings
from functools import cache
from pathlib import Path

DATABASE_NAME = "penguinleads"


def _memory_mb() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return 1024

# Reloadable settings that suit a 2-core, many-GiB developer machine better than the defaults.
# The server runs on this machine, so parallel queries get one worker per core and the leader
# only gathers: on 2 cores a leader scanning beside its 2 workers made 3 processes share 2 cores
# (the segment preview count: median 255 → 220 ms).
_TUNING = {
    "work_mem": "32MB",
    "maintenance_work_mem": "512MB",
    "effective_cache_size": "4GB",
    "random_page_cost": "1.1",
    "jit": "off",
    "max_wal_size": "4GB",
    "max_parallel_workers_per_gather": str(max(2, min(os.cpu_count() or 2, 6))),
    "parallel_leader_participation": "off",
}
# Settings read when the server starts (the next start after they change: pgserver stops the
# server when its last process exits). With the default 128MB of shared buffers, bulk writes
# (imports, rollbacks) spent most of their time reading index pages back from the OS cache and
# evicting dirty ones: two concurrent 60,000-row contact UPDATEs took 5.5-7.8 s, with 1GB 3.7 s.
# Capped at a quarter of the machine's memory.
# WAL buffers: the default (1/32 of shared_buffers, at most 16MB) filled within a fraction of
# a second under a million-row import's writes (about 2 GB of WAL), and the writing backends
# then waited on each other to write WAL out themselves (LWLock WALWrite: a tenth of their
# sampled wait states). With 64MB the walwriter keeps up: the import's writes 24.3 -> 21.2-22.4 s
# (256MB: no better).
_RESTART_TUNING = {
    "shared_buffers": f"{min(1024, _memory_mb() // 4)}MB",
    "wal_buffers": "64MB",
}


@cache
def ensure_embedded_database(data_dir: Path) -> dict:
    """Start (or join) the embedded server and return Django DATABASES settings for it.

    Side effects: may run initdb in `data_dir`, start a postgres process, create the
    application database and set a few reloadable server settings.
    """
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent / ".pgdata-run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(data_dir, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    _prepare(server)
    return {
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(socket_dir),
        "PORT": "",
    }


def _prepare(server) -> None:
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    # One row per setting whose configured value differs from ours (pg_file_settings holds
    # what ALTER SYSTEM wrote even before a restart applies it; values in the units we use).
    wanted = {**_TUNING, **_RESTART_TUNING}
    listed = ",".join(f"('{k}', '{v}')" for k, v in wanted.items())
    differing = server.psql(
        f"SELECT '@' || k FROM (VALUES {listed}) AS t (k, v) WHERE v IS DISTINCT FROM ("
        "SELECT f.setting FROM pg_file_settings f WHERE f.name = t.k "
        "ORDER BY f.seqno DESC LIMIT 1);")
    names = [line.strip()[1:] for line in differing.splitlines() if line.strip().startswith("@")]
    if names:
        statements = "".join(f"ALTER SYSTEM SET {k} = '{wanted[k]}';" for k in names)
        server.psql(statements + "SELECT pg_reload_conf();")
