"""A stand-in for the local collector: the tests' strict SmartKarrot server on 127.0.0.1:8787.

    python examples/receiver.py

Accepts what the examples send (API key ``demo``), checks every field the spec requires and
prints each event as it arrives. Once the collector lands, ``usageanalytics collector`` (with a
dashboard) replaces it. Run from a checkout: it uses ``tests/support/strict_server.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.strict_server import StrictServer


def main() -> None:
    with StrictServer("demo", port=8787) as server:
        print(f"Receiving on {server.endpoint} (Ctrl-C to stop)", flush=True)
        shown = 0
        try:
            while True:
                server.wait_for(lambda seen=shown: len(server.events()) > seen, timeout=3600)
                events = server.events()
                for event in events[shown:]:
                    values = [p.get("stringValue", p.get("numberValue")) for p in event.get("parameters", [])]
                    print(f"{event['_envelope']['userId'][:12]:12}  {event['name']:18}  {values}", flush=True)
                shown = len(events)
                for path, reason in server.rejected:
                    print(f"REJECTED {path}: {reason}", flush=True)
                server.rejected.clear()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
