"""``python -m usageanalytics``: the command-line interface."""

from .cli import main

main()
