"""One clear error for an answer of the wrong shape, whatever part of an adapter reads it.

Adapters read what a provider answered through typed models or mappings; when the data is not what
the provider documents (a list where an object belongs, a null, a missing field, a number that is not
one), the read fails with a ``KeyError``/``TypeError``/... somewhere inside the adapter. ``checked``
turns that, at the adapter's public methods, into one ``MalformedAnswer`` naming the system and the
call — retried like an outage, shown on the connection after the retries — instead of an unexpected
exception that fails the task with nothing useful said.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from decimal import InvalidOperation
from typing import Any, TypeVar

from providers.errors import MalformedAnswer

F = TypeVar("F", bound=Callable[..., Any])

READ_ERRORS: tuple[type[BaseException], ...] = (
    KeyError, IndexError, TypeError, AttributeError, ValueError, InvalidOperation, ArithmeticError,
)


def malformed(system: str, what: str, exc: BaseException) -> MalformedAnswer:
    detail = f"{type(exc).__name__}: {exc}"[:200]
    return MalformedAnswer(f"{system} answered {what} with data booksync cannot read ({detail})",
                           details={"error": type(exc).__name__})


def checked(what: str) -> Callable[[F], F]:
    """Decorate an adapter method (plain or generator); the adapter's ``display_name`` names the system."""

    def decorate(method: F) -> F:
        if inspect.isgeneratorfunction(method):
            @functools.wraps(method)
            def generator(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
                try:
                    yield from method(self, *args, **kwargs)
                except READ_ERRORS as exc:
                    raise malformed(self.display_name, what, exc) from exc

            return generator  # type: ignore[return-value]

        @functools.wraps(method)
        def plain(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except READ_ERRORS as exc:
                raise malformed(self.display_name, what, exc) from exc

        return plain  # type: ignore[return-value]

    return decorate
