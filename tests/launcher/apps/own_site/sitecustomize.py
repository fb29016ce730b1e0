"""The app's own sitecustomize: usageanalytics run must run it, not hide it."""

import os

os.environ["OWN_SITECUSTOMIZE"] = "ran"
