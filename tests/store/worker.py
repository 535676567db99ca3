"""A second process for the store tests: ``python -m tests.store.worker ROLE URL SECONDS``.

ROLE ``writer`` inserts fetch-log rows in many small transactions; ``reader`` counts them over and over;
``init`` runs init_db. Prints one JSON line with what it did and the errors it met.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time

from sqlalchemy import func, insert, select

from ravenshire.store import init_db, read, write
from ravenshire.store import schema as s


def _row(i: int) -> dict:
    now = dt.datetime.now(dt.UTC)
    return {
        "kind": "fetch", "source": f"worker-{i}", "origin": "api", "symbols": "[]", "status": "ok",
        "rows_received": 0, "rows_stored": 0, "rows_rejected": 0, "rows_flagged": 0,
        "started_at": now, "finished_at": now,
    }  # fmt: skip


def main(role: str, url: str, seconds: float) -> dict:
    engine = init_db(url)
    done, errors, seen = 0, [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if role == "writer":
                with write(engine) as conn:
                    conn.execute(insert(s.fetches), [_row(done), _row(done)])  # two rows, one transaction
            elif role == "reader":
                with read(engine) as conn:
                    seen.append(conn.execute(select(func.count()).select_from(s.fetches)).scalar_one())
            elif role == "init":
                break
            done += 1
        except Exception as exc:  # report, do not hide
            errors.append(f"{type(exc).__name__}: {exc}")
    return {"role": role, "done": done, "errors": errors[:5], "seen": seen[-50:]}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], float(sys.argv[3]))))
