"""An app that runs other Python programs: they must not be instrumented unless they use the SDK."""

import json
import subprocess
import sys

PROBE = """
import json, os, sys
result = {"pid": os.getpid(), "sdk_imported_at_start": "usageanalytics" in sys.modules}
if "--import-flask" in sys.argv:
    import flask  # imports a framework, serves nothing
    import usageanalytics as ua
    result["client"] = repr(ua.get_client())
    result["sdk_imported"] = True
print(json.dumps(result))
"""

import flask  # noqa: E402,F401  (this process is a Flask app)

results = []
for extra in ([], ["--import-flask"]):
    done = subprocess.run([sys.executable, "-c", PROBE, *extra], capture_output=True, text=True, check=True)
    results.append(json.loads(done.stdout))
print("PROBES " + json.dumps(results), flush=True)
