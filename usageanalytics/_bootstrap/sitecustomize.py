"""Run at start-up by every Python process of a command started with ``usageanalytics run``.

``usageanalytics run`` puts this folder first on PYTHONPATH, so Python's ``site`` imports this
file as ``sitecustomize``. It must cost next to nothing in processes that never use the SDK, so
it imports nothing of the SDK here:

- it puts a finder on ``sys.meta_path`` that waits for the first import of a framework the SDK
  captures (named in ``_USAGEANALYTICS_RUN_WATCH``), then calls
  ``usageanalytics.launcher.activate()`` and lets the import go on;
- where SIGTERM has its default action, it sets a handler that flushes the SDK, if this process
  made a client, then ends the process by SIGTERM as before. It is set now, before the app or its
  server looks: uvicorn, for one, puts back the handler it found and raises the signal again
  when it has shut down, which with the default action would end the process without its
  ``atexit`` flush;
- then it runs the ``sitecustomize`` this one hides, if there is one (the app's, the system's,
  another tool's), as Python would have.

PYTHONPATH reaches every Python the command starts, whatever its version, so this file compiles
on any Python (no f-strings, types in comments) and does its work only on 3.10 and later.
"""

import os
import sys

TYPE_CHECKING = False  # not `from typing import`: this runs in every process, typing costs milliseconds
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec  # noqa: F401  (used in type comments)
    from typing import Any  # noqa: F401

_RUN_MARKER = "_USAGEANALYTICS_RUN"
_WATCH = "_USAGEANALYTICS_RUN_WATCH"


class _FirstImportWatcher:
    """Activates the launcher on the first import of a watched top-level module.

    After activation it makes the import system search again for the module it was asked
    about, so that finders activation put in front (wrapt's post-import hooks) see this import
    too; a thread already inside that search is let through.
    """

    def __init__(self, names):
        # type: (frozenset[str]) -> None
        import _thread

        self.names = names
        self.lock = _thread.allocate_lock()
        self.searching = set()  # type: set[int]  # thread ids inside the repeated search
        self.activated = False
        self.get_ident = _thread.get_ident

    def find_spec(self, fullname, path=None, target=None):
        # type: (str, Any, Any) -> ModuleSpec | None
        if fullname not in self.names or self.get_ident() in self.searching:
            return None
        with self.lock:
            if not self.activated:
                self.activated = True
                _activate()
        import importlib.util

        me = self.get_ident()
        self.searching.add(me)
        try:
            return importlib.util.find_spec(fullname)
        finally:
            self.searching.discard(me)

    def invalidate_caches(self):
        # type: () -> None
        pass


def _activate():
    # type: () -> None
    try:
        from usageanalytics import launcher
    except Exception as error:  # this Python has no usageanalytics, say
        if os.environ.get(_RUN_MARKER) == str(os.getpid()):
            sys.stderr.write(
                "usageanalytics run: %s cannot import usageanalytics (%s); the app runs without it\n"
                % (sys.executable, error)
            )
        return
    launcher.activate()


def _on_sigterm(signum, frame):
    # type: (int, Any) -> None
    if "usageanalytics" in sys.modules:  # else this process has no client to flush
        try:
            from usageanalytics.launcher import flush_before_termination

            if not flush_before_termination():
                return  # it interrupted the exit path, which ends the process by SIGTERM when done
        except Exception:
            pass
    import _signal  # type: ignore[import-not-found]

    _signal.signal(signum, _signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install():
    # type: () -> None
    if _RUN_MARKER not in os.environ or sys.version_info < (3, 10):
        return
    names = frozenset(name for name in os.environ.get(_WATCH, "").split(",") if name)
    if names:
        sys.meta_path.insert(0, _FirstImportWatcher(names))
    import _signal  # not `signal`, which imports enum: this runs in every process

    if hasattr(_signal, "SIGTERM") and _signal.getsignal(_signal.SIGTERM) == _signal.SIG_DFL:
        _signal.signal(_signal.SIGTERM, _on_sigterm)


def _chain():
    # type: () -> None
    """Import the ``sitecustomize`` that this folder hides, if any, the way ``site`` would."""
    here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    ours = sys.modules.pop("sitecustomize", None)
    positions = [i for i, entry in enumerate(sys.path) if os.path.realpath(entry or ".") == here]
    removed = [(i, sys.path.pop(i)) for i in reversed(positions)]
    try:
        import sitecustomize  # type: ignore[import-not-found]  # noqa: F401  (the next one on sys.path)
    except ImportError as error:
        if ours is not None and "sitecustomize" not in sys.modules:
            sys.modules["sitecustomize"] = ours
        if getattr(error, "name", "sitecustomize") != "sitecustomize":
            _site_error(error)
    except Exception as error:
        if ours is not None and "sitecustomize" not in sys.modules:
            sys.modules["sitecustomize"] = ours
        _site_error(error)
    finally:
        for index, entry in reversed(removed):
            sys.path.insert(index, entry)


def _site_error(error):
    # type: (BaseException) -> None
    if sys.flags.verbose:
        sys.excepthook(*sys.exc_info())
    else:
        sys.stderr.write(
            "Error in sitecustomize; set PYTHONVERBOSE for traceback:\n%s: %s\n"
            % (type(error).__name__, error)
        )


try:
    _install()
except Exception as _error:  # never stop the app from starting
    sys.stderr.write("usageanalytics run: could not set up (%s); the app runs without it\n" % _error)
_chain()
