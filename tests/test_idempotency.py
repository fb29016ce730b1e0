"""An idempotency id always names the same records, whoever retries it, whatever its batch_size.

Issue 12, case 2: a process with batch_size=100 killed while sending; the next one, with
batch_size=500, retried under the same ids with other contents, and a server that drops repeated
ids (our collector does) lost up to a quarter of the events.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.strict_server import StrictServer
from tests.test_processes import FAST, read_until, start_child

COUNT = 20_000


def test_a_retry_with_another_batch_size_after_sigkill_loses_and_repeats_nothing(tmp_path: Path) -> None:
    with StrictServer() as server:

        def slow(path: str, body: dict[str, Any]) -> None:
            time.sleep(0.02)  # a busy server: the kill lands between requests of one round
            return None

        server.fault = slow
        child = start_child(
            "log",
            {
                "configure": {
                    "endpoint": server.endpoint,
                    "data_dir": str(tmp_path),
                    "batch_size": 100,
                    **FAST,
                },
                "count": COUNT,
                "linger": True,
                "persist": True,
            },
        )
        try:
            # Every record on disk before the kill: what is lost below is the sender's doing.
            read_until(child.stdout, lambda line: line == "PERSISTED")  # type: ignore[arg-type]
            assert server.wait_for(lambda: len(server.events("Logged")) >= 3000, 120)
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        finally:
            child.kill()
        sent_before = len(server.events("Logged"))
        assert sent_before < COUNT, "the kill came too late to test anything"
        server.fault = None
        deliver = start_child(
            "deliver",
            {
                "configure": {
                    "endpoint": server.endpoint,
                    "data_dir": str(tmp_path),
                    "batch_size": 500,
                    **FAST,
                },
                "timeout": 120,
            },
        )
        out, err = deliver.communicate(timeout=240)
        assert deliver.returncode == 0, f"{out} {err}"
        received = Counter(e["parameters"][0]["numberValue"] for e in server.events("Logged"))
        missing = sorted(set(range(COUNT)) - set(received))
        assert not missing, f"{len(missing)} events lost, from {missing[:5]}"
        assert max(received.values()) == 1, "an event was accepted twice"
        assert server.rejected == []
