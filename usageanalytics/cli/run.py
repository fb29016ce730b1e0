"""``usageanalytics run -- COMMAND``: run an unmodified app with the SDK set up from the environment.

Like ``opentelemetry-instrument`` and ``ddtrace-run``: check the ``USAGEANALYTICS_*`` settings,
put the bootstrap ``sitecustomize`` first on ``PYTHONPATH`` (see :mod:`usageanalytics.launcher`)
and replace this process with the command (``exec``), so the command keeps this pid, its signals
and its exit status. With a configuration that cannot work it prints one line and runs the
command uninstrumented.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata

import click

from ..launcher import BOOTSTRAP_DIR, RUN_MARKER, WATCH_VARIABLE

_FLAGS_WITHOUT_PYTHONPATH = {"-I", "-E", "-S"}  # isolated, no PYTHON* variables, no site


class _RunCommand(click.Command):
    """Lists every setting's variable after the options, generated from ``Settings``."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from ..settings import describe_settings

        rows = []
        for variable, short, default, description in describe_settings():
            facts = {"-": short, "required": f"{short}, required"}.get(default, f"{short}, default {default}")
            rows.append((variable, f"{description} [{facts}]" if description else f"[{facts}]"))
        with formatter.section("Settings, from the environment (the app's own configure() arguments win)"):
            formatter.write_text(
                "true/false is 1, true, yes or on / 0, false, no or off; an empty variable is unset."
            )
            formatter.write_paragraph()
            formatter.write_dl(rows, col_max=42)
        super().format_epilog(ctx, formatter)


@click.command(
    "run",
    cls=_RunCommand,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    short_help="Run an app with usage analytics set up from the environment, no code change.",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- COMMAND [ARGS]...")
def run(command: tuple[str, ...]) -> None:
    """Run COMMAND with usage analytics set up from the USAGEANALYTICS_* variables.

    The app needs no change: auto-capture attaches when it imports Flask, Django, Qt or an ASGI
    framework, in the command's own process and in its reloader and worker processes; its own
    ua.log_event() calls work without configure(). The command keeps this process's pid, its
    signals and its exit status. If the settings cannot work, one line says why and the command
    runs without usage analytics.

    \b
    Examples:
      usageanalytics run -- python app.py
      usageanalytics run -- python -m mypackage
      usageanalytics run -- flask --app app run --debug
      usageanalytics run -- python manage.py runserver
      usageanalytics run -- gunicorn -w 4 mysite.wsgi
      usageanalytics run -- uvicorn main:app --reload
      usageanalytics run -- hypercorn main:app
    """
    env = dict(os.environ)
    if _configuration_problem(env, command):
        _uninstrument(env)
    else:
        _instrument(env)
    _exec(list(command), env)


def _configuration_problem(env: dict[str, str], command: Sequence[str]) -> bool:
    """Print one line per problem; True when the SDK cannot be set up from ``env``."""
    from ..errors import ConfigurationError
    from ..settings import resolve_settings, suggestion, unknown_variables

    for variable in unknown_variables(env):
        meant = suggestion(variable.removeprefix("USAGEANALYTICS_"))
        hint = f" (did you mean USAGEANALYTICS_{meant.upper()}?)" if meant else ""
        _say(f"{variable} is not a setting{hint}; it is ignored")
    try:
        resolve_settings(environ=env)
    except ConfigurationError as error:
        _say(f"{error}; running {_shown(command)} without usage analytics")
        return True
    flags = _python_flags(command)
    ignored = sorted(flags & _FLAGS_WITHOUT_PYTHONPATH)
    if ignored:
        _say(
            f"python {' '.join(ignored)} ignores PYTHONPATH or site, so auto-capture cannot attach; "
            "only the app's own usageanalytics calls are reported"
        )
    return False


def _instrument(env: dict[str, str]) -> None:
    env[RUN_MARKER] = str(os.getpid())
    env[WATCH_VARIABLE] = ",".join(sorted(_watched_modules()))
    entries = [e for e in env.get("PYTHONPATH", "").split(os.pathsep) if e and not _is_bootstrap(e)]
    env["PYTHONPATH"] = os.pathsep.join([BOOTSTRAP_DIR, *entries])


def _uninstrument(env: dict[str, str]) -> None:
    """Undo what an enclosing ``usageanalytics run`` set, so the command really runs without."""
    env.pop(RUN_MARKER, None)
    env.pop(WATCH_VARIABLE, None)
    entries = [e for e in env.get("PYTHONPATH", "").split(os.pathsep) if e and not _is_bootstrap(e)]
    if entries:
        env["PYTHONPATH"] = os.pathsep.join(entries)
    else:
        env.pop("PYTHONPATH", None)


def _watched_modules() -> set[str]:
    """The top-level packages whose import attaches an integration (from the entry points)."""
    from ..autocapture import GROUP

    return {entry_point.name.split(".")[0] for entry_point in metadata.entry_points(group=GROUP)}


def _is_bootstrap(entry: str) -> bool:
    return os.path.realpath(entry) == os.path.realpath(BOOTSTRAP_DIR)


def _python_flags(command: Sequence[str]) -> set[str]:
    """The interpreter options of a ``python ...`` command, up to its script, -m or -c."""
    if not command or not os.path.basename(command[0]).lower().startswith("python"):
        return set()
    flags: set[str] = set()
    arguments = iter(command[1:])
    for argument in arguments:
        if not argument.startswith("-") or argument in ("-m", "-c", "-"):
            break
        if argument in ("-W", "-X", "--check-hash-based-pycs"):
            next(arguments, None)  # the option's value
        elif not argument.startswith("--"):
            flags.update(f"-{letter}" for letter in argument[1:] if letter.isalpha())
    return flags


def _exec(command: list[str], env: dict[str, str]) -> None:
    executable = command[0] if os.sep in command[0] else shutil.which(command[0], path=env.get("PATH"))
    if executable is None or not os.path.exists(executable):
        _say(f"command not found: {command[0]}")
        sys.exit(127)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":  # no exec on Windows: run it and pass its exit status on
        sys.exit(subprocess.call([executable, *command[1:]], env=env))
    try:
        os.execve(executable, command, env)
    except OSError as error:
        script = command[0].endswith(".py")
        hint = f"; did you mean: usageanalytics run -- python {command[0]}" if script else ""
        _say(f"cannot run {command[0]}: {error.strerror}{hint}")
        sys.exit(126)


def _shown(command: Sequence[str]) -> str:
    text = " ".join(command)
    return f"`{text if len(text) <= 60 else text[:57] + '...'}`"


def _say(message: str) -> None:
    click.echo(f"usageanalytics run: {message}", err=True)


commands = [run]
