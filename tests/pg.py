"""A throw-away PostgreSQL server for tests, from the machine's own binaries (Debian's postgresql package).

Skipped, with the reason, where no server binaries are installed. As root the server runs as the
``postgres`` user (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_server() -> Iterator[str]:
    """Start a server in a new temp folder; yield a SQLAlchemy URL for it; stop it and remove the folder."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        skip_or_fail("PostgreSQL server binaries not installed (apt-get install postgresql)")
    pytest.importorskip("psycopg")
    # Not under pytest's tmp_path: its parents are private to root, and the server may run as postgres.
    tmp = Path(tempfile.mkdtemp(prefix="ravenshire-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        tmp.chmod(0o777)
    data = tmp / "pgdata"
    port = _free_port()
    run = {"check": True, "capture_output": True, "text": True}
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "ravenshire", "--no-sync"], **run)
    options = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", options, "-w", "-l", str(tmp / "pg.log"), "start"], **run)
    try:
        yield f"postgresql+psycopg://ravenshire@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
