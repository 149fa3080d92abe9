"""Running a Tryton wizard over JSON-RPC the way Tryton's own client does.

A wizard is a server-side session: ``wizard.<name>.create`` opens it (answering the session id and the
start state), each ``wizard.<name>.execute(session, data, state)`` runs one state with the values of the
views filled so far (``data``: ``{view state: {field: value}}``) and answers the next view to fill
(``{"view": {"state", "defaults", ...}}``) or nothing once the wizard ended, and ``wizard.<name>.delete``
closes it. The records it works on are named in the context (``active_model``, ``active_id``,
``active_ids``), as the client does when a person starts the wizard from a record. Each execute is its own
transaction on the server: what a transition writes is committed when its call answers.
(``trytond/wizard/wizard.py``: ``Wizard.create``, ``execute``, ``delete``.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from providers.errors import ProviderError
from providers.tryton.rpc import TrytonRPC

log = structlog.get_logger(__name__)


def view_values(defaults: Mapping[str, Any]) -> dict[str, Any]:
    """A view's default values as they go back in ``data``: without the ``field.`` display dicts."""
    return {name: value for name, value in defaults.items() if not name.endswith(".")}


class Wizard:
    """One session of the wizard ``name`` on records ``ids`` of ``model``; use it as a context manager."""

    def __init__(self, rpc: TrytonRPC, name: str, model: str, ids: Sequence[int]) -> None:
        self._rpc = rpc
        self.name = name
        self._context = {"active_model": model, "active_id": ids[0], "active_ids": list(ids)}
        self._session: int | None = None
        self.start_state = ""

    def __enter__(self) -> Wizard:
        session, self.start_state, _ = self._call("create")
        self._session = int(session)
        return self

    def execute(self, state: str, data: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """Run ``state`` with the views' values; the next view's ``{"state", "defaults"}``, or {} at the end."""
        result = self._call("execute", self._session, dict(data or {}), state)
        view = result.get("view") if isinstance(result, dict) else None
        return {"state": view["state"], "defaults": view.get("defaults") or {}} if view else {}

    def __exit__(self, *exc: object) -> None:
        if self._session is None:
            return
        try:
            self._call("delete", self._session)
        except ProviderError as error:  # the session expires on its own; what ran stays done
            log.info("tryton.wizard_not_closed", wizard=self.name, error=error.message)
        self._session = None

    def _call(self, method: str, *params: Any) -> Any:
        return self._rpc.call(f"wizard.{self.name}.{method}", *params, {**self._rpc.context, **self._context})
