"""What the sync and async clients share: settings, the retry policy, and keyword-argument methods."""

from __future__ import annotations

import abc
import functools
import inspect
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast, overload

import httpx

from ..errors import ConfigurationError
from ..settings import check_endpoint, financial_endpoint_for, resolve_credentials
from ._endpoints import Call, Target
from ._retry import RetryPolicy
from .errors import ApiError

log = logging.getLogger("usageanalytics.api")

P = ParamSpec("P")
M = TypeVar("M")
S = TypeVar("S")
R = TypeVar("R")
H = TypeVar("H", httpx.Client, httpx.AsyncClient)


def check_timeout(timeout: float) -> float:
    """A positive, finite number of seconds, or a clear error at construction."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
        raise ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1024:
        raise ConfigurationError(f"max_response_size must be a whole number of bytes >= 1024, got {size!r}")
    return size


class ClientSettings:
    """Credentials and endpoints from the arguments or the environment (as ``configure()`` reads them)."""

    def __init__(
        self,
        *,
        api_key: str | None,
        app_id: str | None,
        endpoint: str | None,
        financial_endpoint: str | None,
        timeout: float,
        policy: RetryPolicy,
        max_response_size: int = 32 * 1024 * 1024,
    ) -> None:
        app_id, api_key, endpoint = resolve_credentials(app_id, api_key, endpoint)
        financial = (
            check_endpoint(financial_endpoint) if financial_endpoint else financial_endpoint_for(endpoint)
        )
        self.api_key = api_key
        self.timeout = check_timeout(timeout)
        self.max_response_size = check_size(max_response_size)
        self.target = Target(app_id, endpoint, financial)
        self.policy = policy


class BaseClient(Generic[H], abc.ABC):
    """What ``Client`` and ``AsyncClient`` share: arguments, settings, and what to do after a failure.

    ``api_key``, ``app_id`` and ``endpoint`` default to ``USAGEANALYTICS_API_KEY``,
    ``USAGEANALYTICS_APP_ID`` and ``USAGEANALYTICS_ENDPOINT``, as for ``configure()``;
    ``financial_endpoint`` defaults to the financial URL beside ``endpoint``.

    ``timeout`` bounds each attempt of a call as a whole: connecting, sending and reading the
    whole answer end within it, however slowly the server sends (:class:`ApiTimeoutError`
    otherwise). Failed calls are retried ``max_retries`` times, after ``retry_backoff`` seconds
    doubling each time (with jitter), or after the server's Retry-After when it is at most
    ``max_retry_after`` seconds; so one call takes at most ``(max_retries + 1) * timeout`` plus
    those waits. An answer larger than ``max_response_size`` bytes (32 MiB) is refused
    (:class:`UnexpectedResponseError`) rather than read into memory.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        app_id: str | None = None,
        endpoint: str | None = None,
        financial_endpoint: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        max_retry_after: float = 60.0,
        max_response_size: int = 32 * 1024 * 1024,
    ) -> None:
        self._settings = ClientSettings(
            api_key=api_key,
            app_id=app_id,
            endpoint=endpoint,
            financial_endpoint=financial_endpoint,
            timeout=timeout,
            policy=RetryPolicy(max_retries, retry_backoff, max_retry_after=max_retry_after),
            max_response_size=max_response_size,
        )
        self._http: H = self._new_http(self._settings)

    @abc.abstractmethod
    def _new_http(self, settings: ClientSettings) -> H:
        """The httpx client (sync or async) of the concrete client."""

    @property
    def app_id(self) -> str:
        return self._settings.target.app_id

    def _request(self, call: Call[Any]) -> httpx.Request:
        return self._http.build_request(
            call.method, call.url, params=call.params, json=call.body, headers=call.request_headers()
        )

    def _delay_or_raise(self, call: Call[Any], attempt: int, error: ApiError) -> float:
        """Seconds to wait before trying ``call`` again; raises ``error`` when it is not retried."""
        delay = self._settings.policy.delay(call, attempt, error)
        if delay is None:
            raise error
        log.info("%s %s failed (%s); retry %d in %.2f s", call.method, call.url, error, attempt + 1, delay)
        return delay

    def __repr__(self) -> str:
        endpoint = self._settings.target.endpoint
        return f"<usageanalytics.api.{type(self).__name__} app_id={self.app_id!r} endpoint={endpoint!r}>"


class resource(Generic[R]):
    """A client attribute holding one resource object per client, built on first use."""

    def __init__(self, kind: Callable[[Any], R]) -> None:
        self._kind = kind
        self._attribute = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._attribute = f"_resource_{name}"

    @overload
    def __get__(self, client: None, owner: type) -> resource[R]: ...

    @overload
    def __get__(self, client: object, owner: type) -> R: ...

    def __get__(self, client: object | None, owner: type) -> resource[R] | R:
        if client is None:
            return self
        found: R | None = client.__dict__.get(self._attribute)
        if found is None:
            found = client.__dict__[self._attribute] = self._kind(client)
        return found


def takes(model: Callable[P, M]) -> Callable[[Callable[[S, M], R]], Callable[Concatenate[S, P], R]]:
    """Give a method that takes one model the model's own keyword arguments.

    ``orders.upsert(order_id=..., amount=...)`` builds the :class:`Order` (checking it) and passes
    it on; type checkers see the model's exact parameters, written once, for both clients.
    """

    def decorate(method: Callable[[S, M], R]) -> Callable[Concatenate[S, P], R]:
        if inspect.iscoroutinefunction(method):

            async def run_async(self: S, /, *args: P.args, **kwargs: P.kwargs) -> Any:
                return await cast(Awaitable[Any], method(self, model(*args, **kwargs)))

            wrapper = cast(Callable[Concatenate[S, P], R], run_async)
        else:

            def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
                return method(self, model(*args, **kwargs))

            wrapper = run
        functools.update_wrapper(wrapper, method)
        parameters = list(inspect.signature(model).parameters.values())
        self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        signature = inspect.signature(method).replace(parameters=[self_parameter, *parameters])
        wrapper.__signature__ = signature  # type: ignore[attr-defined]
        return wrapper

    return decorate
