"""A disk that refuses writes (full, or a file-size limit): every record is counted, none silent.

Issue 12, case 9: with ``ulimit -f``, about 58,000 of 60,000 records could not be written; they
were dropped at exit with no ``record_dropped`` signal, only "could not write" in the log.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_delivery import free_port
from tests.test_processes import FAST, start_child
from usageanalytics.ledger import NOT_WRITTEN
from usageanalytics.status import read_status


def test_records_the_disk_refuses_are_counted_and_signalled(tmp_path: Path) -> None:
    child = start_child(
        "disk_full",
        {
            "configure": {
                "endpoint": f"http://127.0.0.1:{free_port()}/v4/", "data_dir": str(tmp_path),
                "flush_interval": 3600, **FAST,
            },
            "count": 60_000,
            "max_file_bytes": 1_000_000,
        },
    )  # fmt: skip
    out, err = child.communicate(timeout=240)
    assert child.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    stats, signalled = report["stats"], report["signalled"]
    dropped = sum(stats["dropped"].values())
    assert stats["dropped"].get(NOT_WRITTEN, 0) > 40_000, stats
    assert signalled == dropped, "every drop was signalled"
    assert stats["in_memory"] == 0
    came_in = stats["logged"] + stats["adopted"] + stats["replayed"]
    went = stats["delivered"] + stats["dead_lettered"] + dropped + stats["queued"] + stats["held"]
    assert came_in == went, stats
    assert stats["logged"] >= 60_000
    on_disk = read_status(tmp_path)
    assert on_disk.queued + on_disk.held == stats["queued"] + stats["held"] > 0, (
        "what it says is queued is on disk"
    )
    assert "could not write" in err, "the failing disk is logged"
    drop_lines = [line for line in err.splitlines() if f"records: {NOT_WRITTEN}" in line]
    assert len(drop_lines) == 1, "drops are logged once a minute, not once a record"
