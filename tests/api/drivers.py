"""Drive the sync and the async client through one interface, so each test runs against both.

The async client runs on an event loop in a thread of its own; calls are submitted to it and
their results (or exceptions) come back to the test, and async iterators are drained there.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from usageanalytics.api import AsyncClient, Client

T = TypeVar("T")


class EventLoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()


async def _drain(iterator: AsyncIterator[T]) -> list[T]:
    return [item async for item in iterator]


class _Resource:
    def __init__(self, resource: Any, runner: EventLoopThread) -> None:
        self._resource = resource
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._resource, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if inspect.isasyncgen(result):
                return iter(self._runner.run(_drain(result)))
            assert inspect.iscoroutine(result), f"{name} did not return a coroutine"
            return self._runner.run(result)

        return call


class AsyncDriver:
    """An :class:`AsyncClient` seen through blocking calls (the client itself stays async)."""

    kind = "async"

    def __init__(self, **options: Any) -> None:
        self._runner = EventLoopThread()
        self.client = AsyncClient(**options)

    def __getattr__(self, name: str) -> Any:
        return _Resource(getattr(self.client, name), self._runner)

    def close(self) -> None:
        self._runner.run(self.client.aclose())
        self._runner.stop()


class SyncDriver:
    kind = "sync"

    def __init__(self, **options: Any) -> None:
        self.client = Client(**options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def close(self) -> None:
        self.client.close()
