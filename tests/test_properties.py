"""Property tests: search for a call that raises, or a record that goes unaccounted.

Hypothesis draws sequences of public calls with arbitrary values (every Python type, lone
surrogates, huge strings, bytes, Decimals, nested containers, identities; opt-out, opt-in,
forget_user, and a before_send hook that drops, raises or puts any value in any field) and
fault schedules
(5xx, 413, 429 with any Retry-After, garbage and hostile bodies, stalls, write errors, restarts
with other settings, several clients and processes on one data folder, SIGKILL), against the
strict test server. It checks that no call raises, that the ledger balances::

    logged + adopted + replayed == delivered + dead-lettered + dropped + queued + held + in memory

and that what the server accepted matches what the ledger calls delivered, each record once.

CI runs a fixed seed and a bounded budget (the ``ci`` profile in conftest.py); a longer search:
``USAGEANALYTICS_HYPOTHESIS=long .venv/bin/python -m pytest tests/test_properties.py``.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import usageanalytics as ua
from tests.support.strict_server import Stall, StrictServer, deep_json
from tests.test_processes import start_child
from usageanalytics import privacy
from usageanalytics.ledger import Stats
from usageanalytics.status import read_status

BUDGET = settings.default.max_examples

# -- arbitrary values ---------------------------------------------------------------------------------


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__


class Nested(list[Any]):
    """Lists 5,000 deep: past the recursion limit for anything that walks it naively (the
    outer list says what it is, so a failing example can still be printed)."""

    def __init__(self) -> None:
        super().__init__()
        inner: list[Any] = self
        for _ in range(5_000):
            inner.append([])
            inner = inner[0]

    def __repr__(self) -> str:
        return "Nested(5000 deep)"


NESTED = Nested()

_characters = st.one_of(st.characters(), st.characters(categories=["Cs"]))  # Cs: lone surrogates
texts = st.text(_characters, max_size=24)
huge_texts = st.integers(0, 20_000).map(lambda n: "x" * n)
_zones = st.builds(timezone, st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23)))
datetimes = st.datetimes(timezones=st.one_of(st.none(), _zones))
recent = st.datetimes(
    min_value=datetime(1995, 1, 1),
    max_value=datetime.now() + timedelta(hours=1),
    timezones=st.one_of(st.none(), _zones),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    texts,
    huge_texts,
    st.binary(max_size=12),
    st.decimals(),
    datetimes,
    st.dates(),
    st.complex_numbers(),
    st.builds(object),
    st.builds(Unprintable),  # its repr() raises: every message that describes it must cope
    st.just(NESTED),  # past the recursion limit for anything that walks it naively
    st.sampled_from(list(ua.UserAttribute)),
    st.sampled_from(["Home", "acct-1", "user-1", "guest-1", "Module"]),  # plausible values too
)
keys = st.one_of(
    texts, st.integers(), st.none(), st.binary(max_size=4), st.sampled_from(list(ua.EventAttribute))
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=7), st.tuples(inner, inner)
    ),
    max_leaves=8,
)
ids = st.one_of(st.none(), st.sampled_from(["user-1", "user-2", "guest-9", "acct-2"]), values)


def _call(name: str, *args: Any, **kwargs: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    return name, args, kwargs


# What the app's before_send does next (a step sets it): pass the record, drop it, raise, return
# something that is not a record, or put an arbitrary value in one of its fields.
HOOK: dict[str, Any] = {"mode": "pass", "value": None}
HOOK_MODES = ["pass", "drop", "raise", "return", "scrub", "name", "attributes", "value", "timestamp",
              "customer_account_id", "user_id", "delete"]  # fmt: skip


def before_send(record: dict[str, Any]) -> Any:
    mode, value = HOOK["mode"], HOOK["value"]
    if mode == "drop":
        return None
    if mode == "raise":
        raise RuntimeError("the app's hook failed")
    if mode == "return":
        return value
    if mode == "scrub":
        return privacy.scrub_pii(record)
    if mode == "delete":
        for key in ("name", "attributes", "value", "timestamp", "customer_account_id"):
            record.pop(key, None)
        return record
    if mode != "pass":
        record[mode] = value
    return record


calls = st.one_of(
    st.builds(
        lambda n, a, d, t: _call("log_event", n, a, debounce=d, timestamp=t),
        values,
        values,
        st.booleans() | values,
        st.none() | recent | values,
    ),
    st.builds(
        lambda n, a, t: _call("log_screen_view", n, attributes=a, timestamp=t),
        values,
        st.none() | values,
        st.none() | recent,
    ),
    st.builds(lambda u, t, c: _call("log_page_load", u, t, c), values, values, values),
    st.builds(lambda n, v: _call("set_user_attribute", n, v), values, values),
    st.builds(lambda a: _call("set_user_attributes", a), values),
    st.builds(lambda t, d: _call("update_device_token", t, d), values, values),
    st.builds(lambda u, a, p: _call("set_user", u, a, p), ids, ids, ids),
    st.just(_call("reset_user")),
    st.builds(lambda p: _call("set_product_id", p), ids),
    st.sampled_from([_call("identify"), _call("start_session"), _call("end_session")]),
    st.sampled_from([_call("opt_out"), _call("opt_in"), _call("is_opted_out")]),
    st.builds(lambda u: _call("forget_user", u), ids),
    st.builds(lambda m, v: _call("before_send", m, v), st.sampled_from(HOOK_MODES), values | recent),
    st.builds(lambda t: _call("flush", t), st.sampled_from([0.0, 0.05]) | values),
    st.just(_call("stats")),
    st.builds(
        lambda every, reason: _call("discard_queued", (lambda record: every), reason),
        st.booleans(),
        st.sampled_from(["cleanup"]) | values,
    ),
)
identities = st.fixed_dictionaries(
    {},
    optional={
        "user_id": ids, "guest_id": ids, "customer_account_id": ids, "product_id": ids,
        "session_id": ids, "source_ip": ids,
    },
)  # fmt: skip
steps = st.lists(st.tuples(st.none() | identities, calls), max_size=20)


def _perform(
    client: ua.Client,
    step: tuple[dict[str, Any] | None, tuple[str, tuple[Any, ...], dict[str, Any]]],
    shared: bool = True,
) -> None:
    """One drawn call: the module's function when ``shared`` (and there is one), else the
    client's method."""
    identity, (name, args, kwargs) = step
    if name == "before_send":
        HOOK.update(mode=args[0], value=args[1])
        return
    function: Callable[..., Any] = (shared and getattr(ua, name, None)) or getattr(client, name)
    scope = ua.identity(**identity) if identity is not None else contextlib.nullcontext()
    with scope:
        function(*args, **kwargs)


class Delivered:
    """Counts what the ledger calls delivered, per endpoint, from the batch_sent signal."""

    def __init__(self) -> None:
        self.by_path: Counter[str] = Counter()

    def __call__(self, sender: Any, **info: Any) -> None:
        self.by_path[info["path"]] += info["count"]


@pytest.fixture
def shared(server: StrictServer, tmp_path: Path) -> Iterator[tuple[ua.Client, Delivered]]:
    client = ua.configure(
        "app-1", api_key="test-key", endpoint=server.endpoint, data_dir=str(tmp_path / "data"),
        customer_account_id="acct-1", auto_capture=False, retry_base=0.05, retry_cap=0.2,
        before_send=before_send,
    )  # fmt: skip
    delivered = Delivered()
    with ua.signals.batch_sent.connected_to(delivered, sender=client):
        yield client, delivered
    ua.shutdown(5)


@settings(max_examples=BUDGET * 2)
@given(steps=steps)
def test_public_calls_never_raise_and_every_record_is_accounted_for(
    shared: tuple[ua.Client, Delivered], server: StrictServer, steps: list[Any]
) -> None:
    client, delivered = shared
    HOOK.update(mode="pass", value=None)
    for step in steps:
        _perform(client, step)  # nothing here may raise
    assert ua.flush(30), client.stats()
    stats = client.stats()
    assert stats.balanced, stats
    assert stats.queued == stats.held == stats.in_memory == 0, stats
    assert stats.delivered == sum(delivered.by_path.values())
    assert server.rejected == [], "the SDK sent something the spec calls invalid"
    assert len(server.events()) == delivered.by_path["usageanalytics/event"], (
        "the server has what was delivered"
    )


_folders = iter(range(10**9))


@settings(max_examples=BUDGET)
@given(before=steps, timeout=st.sampled_from([0.0, 0.05, 5.0]) | values, after=steps)
def test_calls_around_shutdown_never_raise_and_flush_never_claims_what_is_queued(
    server: StrictServer, tmp_path: Path, before: list[Any], timeout: Any, after: list[Any]
) -> None:
    """Calls, a shutdown with any timeout, calls after it: nothing raises, the ledger balances,
    and flush() after the shutdown says True only if nothing is left queued."""
    HOOK.update(mode="pass", value=None)
    client = ua.Client(
        "app-1", api_key="test-key", endpoint=server.endpoint,
        data_dir=str(tmp_path / f"data-{next(_folders)}"), customer_account_id="acct-1",
        auto_capture=False, retry_base=0.05, retry_cap=0.2, exit_timeout=1.0, before_send=before_send,
    )  # fmt: skip
    try:
        for step in before:
            _perform(client, step, shared=False)
        done = client.shutdown(timeout)  # an unusable timeout: the default, said in the log
        for step in after:
            _perform(client, step, shared=False)  # each ignored, counted
        stats = client.stats()
        assert stats.balanced, stats
        left = stats.queued + stats.held + stats.in_memory
        assert client.flush(timeout) is done
        assert not (done and left), f"shutdown() said True with {left} records queued: {stats}"
    finally:
        client.shutdown(1)


# -- fault schedules ----------------------------------------------------------------------------------

RETRY_AFTERS = st.sampled_from(
    ["0", "1", "nan", "-3", "inf", "999999999", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"]
)
retryable_answers = st.one_of(
    st.just(None),  # pass through: validated and accepted
    st.sampled_from([500, 502, 503]).map(
        lambda status: (status, {}, {"status": "ERROR", "message": "injected"})
    ),
    RETRY_AFTERS.map(lambda value: (429, {"Retry-After": value}, {"status": "ERROR", "message": "injected"})),
    st.sampled_from([b"\xff garbage", b"", b'{"status": "SUCC', deep_json(20_000)]).map(
        lambda body: (200, {}, body)
    ),
    st.just((200, {}, {"status": "ERROR", "message": "injected"})),
    st.just((503, {}, Stall(0.4, {"status": "ERROR", "message": "injected"}))),  # past the client's timeout
)
answers = retryable_answers | st.just((400, {}, {"status": "INVALID_INPUT", "message": "injected"}))
client_settings = st.fixed_dictionaries(
    {
        "batch_size": st.sampled_from([1, 7, 100, 500, 1000]),
        "max_request_bytes": st.sampled_from([10_000, 50_000, 1_000_000]),
        "durable": st.booleans(),
    }
)
fault_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("log"), st.integers(1, 40), st.sampled_from(["", "x" * 3000, "é\udc80", "y" * 9000])
        ),
        st.tuples(st.just("flush"), st.sampled_from([0.0, 0.05, 0.3])),
        st.tuples(st.just("restart"), client_settings),
        st.tuples(st.just("another client"), client_settings),
        st.tuples(st.just("disk errors"), st.integers(1, 4)),
        st.tuples(st.just("replay")),
        st.tuples(st.just("server limit"), st.sampled_from([None, 3_000, 40_000])),
        st.tuples(st.sampled_from(["opt out", "opt in", "forget"])),
    ),
    max_size=14,
)


class FaultySchedule:
    """The server's answers, in order, one per request; then it behaves."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = list(answers)

    def __call__(self, path: str, body: dict[str, Any]) -> Any:
        return self.answers.pop(0) if self.answers else None


def _fail_writes(client: ua.Client, count: int) -> None:
    """The next ``count`` writes to this client's queue fail as on a full disk."""
    inbox = client._pipeline.stores.own.inbox
    real_put = inbox.put
    left = {"n": count}

    def put(data: bytes) -> int:
        if left["n"] > 0:
            left["n"] -= 1
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        return real_put(data)

    inbox.put = put  # type: ignore[method-assign]


@settings(max_examples=BUDGET)
@given(answers=st.lists(answers, max_size=25), plan=fault_steps)
def test_the_ledger_balances_under_faults_restarts_and_shared_folders(
    tmp_path_factory: pytest.TempPathFactory, answers: list[Any], plan: list[Any]
) -> None:
    data = tmp_path_factory.mktemp("faults")
    logged_indexes = 0
    clients: list[ua.Client] = []
    delivered = Delivered()
    with StrictServer() as server, ua.signals.batch_sent.connected_to(delivered):
        server.fault = FaultySchedule(answers)

        def new_client(options: dict[str, Any]) -> ua.Client:
            client = ua.Client(
                "app-1", api_key="test-key", endpoint=server.endpoint, data_dir=str(data),
                customer_account_id="acct-1", collect_device_attributes=False, flush_interval=3600,
                retry_base=0.01, retry_cap=0.05, timeout=0.3, exit_timeout=0.5, **options,
            )  # fmt: skip
            clients.append(client)
            return client

        current = new_client({})
        for step in plan:
            kind = step[0]
            if kind == "log":
                for _ in range(step[1]):
                    current.log_event("P", {"i": logged_indexes, "s": step[2]})
                    logged_indexes += 1
            elif kind == "flush":
                current.flush(step[1])
            elif kind == "restart":
                current.shutdown(0.3)
                current = new_client(step[1])
            elif kind == "another client" and len([c for c in clients if c._active]) < 3:
                current = new_client(step[1])
            elif kind == "disk errors":
                _fail_writes(current, step[1])
            elif kind == "replay":
                current.replay_dead_letters()
            elif kind == "server limit":
                server.max_body_bytes = step[1]
            elif kind == "opt out":
                current.opt_out()
            elif kind == "opt in":
                current.opt_in()
            elif kind == "forget":
                current.forget_user(current.user_id or "")
        for client in clients:
            client.shutdown(0.3)
        for client in clients:  # as a process that exits: its queues are released
            _wait_until_stopped(client)
        # The server recovers; one last client takes over every queue left on disk.
        server.fault = None
        server.max_body_bytes = None
        final = new_client({})
        assert final.flush(60), final.stats()
        final.shutdown(10)
        totals = _sum(client.stats() for client in clients)
        for client in clients:
            assert client.stats().balanced, client.stats()
        left = read_status(data)
        assert left.queued == left.held == 0
        # Every record is delivered, dead-lettered or dropped with a reason, none twice.
        came_in = totals["logged"] + totals["replayed"]
        assert came_in == totals["delivered"] + totals["dead_lettered"] + totals["dropped"], totals
        received = Counter(e["parameters"][0]["numberValue"] for e in server.events("P"))
        assert not received or max(received.values()) == 1, "an event was accepted twice"
        assert len(server.events()) == delivered.by_path["usageanalytics/event"]
        assert set(received) <= set(range(logged_indexes))
        assert [r for r in server.rejected if "injected" not in r[1] and r[1] != "413"] == []


def _wait_until_stopped(client: ua.Client, timeout: float = 30.0) -> None:
    """A sender still waiting on a stalled answer at shutdown releases its queues when it ends."""
    deadline = time.monotonic() + timeout
    sender = client._pipeline.sender
    while sender is not None and sender.alive:
        assert time.monotonic() < deadline, "a sender never stopped"
        time.sleep(0.02)


def _sum(all_stats: Any) -> Counter[str]:
    total: Counter[str] = Counter()
    for stats in all_stats:
        assert isinstance(stats, Stats)
        total.update(
            logged=stats.logged, replayed=stats.replayed, delivered=stats.delivered,
            dead_lettered=stats.dead_lettered, dropped=stats.dropped_total,
        )  # fmt: skip
    return total


# -- real processes, killed -------------------------------------------------------------------------

processes = st.lists(
    st.fixed_dictionaries(
        {
            "count": st.integers(50, 1500),
            "batch_size": st.sampled_from([10, 100, 500]),
            "durable": st.booleans(),
            "kill_after": st.none() | st.floats(0.0, 1.5),
        }
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=max(3, BUDGET // 8))
@given(plan=processes, answers=st.lists(retryable_answers, max_size=10))
def test_processes_killed_at_random_on_one_folder_lose_nothing_they_returned(
    tmp_path_factory: pytest.TempPathFactory, plan: list[dict[str, Any]], answers: list[Any]
) -> None:
    data = tmp_path_factory.mktemp("killed")
    with StrictServer() as server:
        server.fault = FaultySchedule(answers)
        children = []
        for n, options in enumerate(plan):
            configure = {
                "endpoint": server.endpoint, "data_dir": str(data), "batch_size": options["batch_size"],
                "durable": options["durable"], "retry_base": 0.01, "retry_cap": 0.05, "timeout": 0.3,
                "exit_timeout": 1.0,
            }  # fmt: skip
            payload = {"configure": configure, "count": options["count"], "name": f"Process {n}"}
            payload.update(report_each=True, linger=options["kill_after"] is not None)
            children.append((start_child("log", payload), options))
        returned: dict[int, int] = {}
        for n, (child, options) in enumerate(children):
            if options["kill_after"] is None:
                out, err = child.communicate(timeout=180)
                assert child.returncode == 0, err[-2000:]
                returned[n] = options["count"] - 1
                continue
            time.sleep(options["kill_after"])
            child.send_signal(signal.SIGKILL)
            child.wait(30)
            lines = [line.strip() for line in child.stdout or []]
            reported = [int(line) for line in lines if line.isdigit()]
            # A call that returned is on disk with durable=True; otherwise at most the last
            # write interval (0.1 s) may be lost: only durable children are held to every call.
            returned[n] = max(reported, default=-1) if options["durable"] else -1
        server.fault = None
        deliver = start_child(
            "deliver", {"configure": {"endpoint": server.endpoint, "data_dir": str(data)}, "timeout": 120}
        )
        out, err = deliver.communicate(timeout=240)
        assert deliver.returncode == 0, f"{out} {err[-2000:]}"
        for n in returned:
            received = Counter(e["parameters"][0]["numberValue"] for e in server.events(f"Process {n}"))
            assert not received or max(received.values()) == 1, "an event was accepted twice"
            missing = set(range(returned[n] + 1)) - set(received)
            assert not missing, f"process {n} lost {len(missing)} events that had returned"
            assert set(received) == set(range(len(received))), "what was lost is a tail, not a gap"
        assert read_status(data).queued == 0
