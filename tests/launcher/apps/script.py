"""A plain script that tracks with the SDK's functions but never calls configure()."""

import os
import sys

import usageanalytics as ua

print(f"PID {os.getpid()}", flush=True)
ua.log_event("Report Exported", {"Rows": 3})
client = ua.get_client()
print(f"CLIENT {client!r}", flush=True)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
