#!/usr/bin/env python
"""The example Django project's manage.py: ``python examples/django_project/manage.py runserver``.

``runserver`` creates the SQLite database on first use, so that one command is enough.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line
    from mysite.settings import DATABASES

    if sys.argv[1:2] == ["runserver"] and not Path(DATABASES["default"]["NAME"]).exists():
        execute_from_command_line([sys.argv[0], "migrate", "--verbosity", "0"])
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
