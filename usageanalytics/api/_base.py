"""What the sync and async clients share: settings, the retry policy, and keyword-argument methods."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from ..settings import check_endpoint, financial_endpoint_for, resolve_credentials
from ._endpoints import Call, Target
from ._retry import RetryPolicy
from .errors import ApiError

log = logging.getLogger("usageanalytics.api")

P = ParamSpec("P")
M = TypeVar("M")
S = TypeVar("S")
R = TypeVar("R")


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
        max_retries: int,
        retry_backoff: float,
        max_retry_after: float,
    ) -> None:
        app_id, api_key, endpoint = resolve_credentials(app_id, api_key, endpoint)
        financial = (
            check_endpoint(financial_endpoint) if financial_endpoint else financial_endpoint_for(endpoint)
        )
        self.api_key = api_key
        self.timeout = timeout
        self.target = Target(app_id, endpoint, financial)
        self.policy = RetryPolicy(max_retries, retry_backoff, max_retry_after=max_retry_after)

    def log_retry(self, call: Call[Any], error: ApiError, delay: float, attempt: int) -> None:
        log.info("%s %s failed (%s); retry %d in %.2f s", call.method, call.url, error, attempt + 1, delay)


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
