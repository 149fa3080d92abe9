"""The local Xero's ASGI app: one base URL for the identity service, the Accounting API and the sandbox's
own controls, every API request checked against Xero's definition on its way in and every answer on its
way out.

A call to the Accounting API goes through, in order: fault switches (latency, 5xx, 429 storm), the
bearer token (401), the ``xero-tenant-id`` header and the tenant's connection to the app (403), the
limits (429), the operation's scopes from the definition (403), the definition (400
``ValidationException``, counted as rejected), the Idempotency-Key (a replay answers the first answer
again), the handler inside one store transaction, and the answer's own check against the definition
(a failure is a sandbox bug: 500, logged, and the transaction is rolled back).

``/_sandbox/...`` is not Xero: stats, recorded calls, tenants (create; raw state as the tests' oracle,
and raw objects put in place), fault switches. None of it is counted against limits.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import structlog
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sandboxes.xero.api import HANDLERS, ApiError, Call, validation_exception
from sandboxes.xero.contract import Contract, Operation, SpecViolation, contract
from sandboxes.xero.faults import ONE_SHOT, Fault, Faults
from sandboxes.xero.formats import epoch_ms, ms_datetime, utc_now
from sandboxes.xero.limits import Limits, RateLimiter
from sandboxes.xero.oauth import OAuth, OAuthError
from sandboxes.xero.seed import create_tenant
from sandboxes.xero.store import Store

log = structlog.get_logger("sandboxes.xero")
IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
PROVIDER_NAME = "booksync local Xero"
COLLECTIONS = ("organisation", "contacts", "invoices", "payments", "items", "accounts", "taxrates", "currencies")
TRANSPORT = "xero.sandbox.transport"


@dataclass(frozen=True)
class Settings:
    directory: Path
    client_id: str
    client_secret: str
    redirect_uris: list[str] | None = None
    access_token_seconds: float = 1800.0
    refresh_grace_seconds: float = 1800.0
    limits: Limits = Limits()
    tenants: int = 0


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """The problem-details body Xero's gateway answers 401/403/429/5xx with."""
    return {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": str(uuid.uuid4()),
            "Extensions": {}}


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, default=_default), status, headers, media_type="application/json")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Sandbox:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.directory.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.directory / "xero.sqlite")
        self.contract: Contract = contract()
        self.oauth = OAuth(self.store, client_id=settings.client_id, client_secret=settings.client_secret,
                           redirect_uris=settings.redirect_uris, access_ttl_s=settings.access_token_seconds,
                           refresh_grace_s=settings.refresh_grace_seconds, signing_key=self._signing_key())
        self.limiter = RateLimiter(settings.limits)
        self.faults = Faults()
        self.stats: Counter[str] = Counter()
        for number in range(len(self.store.tenants()) + 1, settings.tenants + 1):
            create_tenant(self.store, f"Sandbox Organisation {number}", now_ms=self.now_ms())

    def _signing_key(self) -> bytes:
        path = self.settings.directory / "signing.key"
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return path.read_bytes()

    @staticmethod
    def now_ms() -> int:
        return epoch_ms(utc_now())

    # -- the Accounting API and /connections -----------------------------------------------------------

    async def api(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        operation = self.contract.find(request.method, request.url.path)
        if operation is None:
            self.stats["requests_not_in_spec"] += 1
            await _json(404, {"ErrorNumber": 404, "Type": "NotFoundException",
                              "Message": "The resource you're looking for cannot be found"})(scope, receive, send)
            return
        response = await self._api(request, operation)
        if response is None:  # cut off after commit: close the connection without an answer
            transport = scope.get(TRANSPORT)
            if transport is not None:
                transport.close()
                return
            response = _json(500, _problem(500, "Internal Server Error", "connection cut"))
        await response(scope, receive, send)

    async def _api(self, request: Request, operation: Operation) -> Response | None:
        method, path = request.method, request.url.path
        # The whole request is in hand before anything else, as a server has it while it works: a client that
        # goes away meanwhile (killed mid-call) does not stop the work, and a fault fired means it arrived.
        await request.body()
        delay = self.faults.latency(method, path)  # slow processing: the call is in flight meanwhile
        error = self.faults.take("error", method, path)
        if error is not None:
            return self._outside(error.status, _problem(error.status, "Service Unavailable" if error.status == 503
                                                        else "Internal Server Error", "A fault switch is on"))
        storm = self.faults.take("rate_limit_storm", method, path)
        if storm is not None:
            self.limiter.refuse(storm.problem)
            return self._outside(429, _problem(429, "Too Many Requests", "Rate limit exceeded"),
                                 {"Retry-After": str(storm.retry_after), "X-Rate-Limit-Problem": storm.problem})
        now_ms = self.now_ms()
        grant = self.oauth.bearer(request.headers.get("authorization"), now_ms)
        if grant is None or grant.expired:
            detail = "TokenExpired: token expired" if grant is not None else "AuthenticationUnsuccessful"
            return self._outside(401, _problem(401, "Unauthorized", detail),
                                 {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if operation.api == "identity":
            await asyncio.sleep(delay)
            body = await request.body()
            return await run_in_threadpool(self._identity, request, operation, grant, body)
        tenant_id = (request.headers.get("xero-tenant-id") or "").strip().lower()
        if not tenant_id or not self.oauth.connected(grant, tenant_id):
            return self._outside(403, _problem(403, "Forbidden", "AuthenticationUnsuccessful"))
        refusal = self.limiter.acquire(tenant_id, method, operation.template)
        if refusal is not None:
            headers = {"X-Rate-Limit-Problem": refusal.problem, **self._remaining(tenant_id)}
            if refusal.retry_after is not None:
                headers["Retry-After"] = str(refusal.retry_after)
            return self._outside(429, _problem(429, "Too Many Requests", "Rate limit exceeded"), headers)
        try:
            if delay:
                await asyncio.sleep(delay)
            if operation.scopes and not grant.scopes & set(operation.scopes):
                return self._outside(403, _problem(403, "Forbidden", "AuthorizationUnsuccessful"),
                                     self._remaining(tenant_id))
            body = await request.body()
            status, payload, committed = await run_in_threadpool(self._accounting, request, operation, tenant_id,
                                                                 body, now_ms)
            if committed and self.faults.take("cut_after_commit", method, path):
                self.stats["answers_cut_off"] += 1
                log.info("xero_sandbox.answer_cut_off", operation=operation.operation_id, status=status,
                         note="committed; the connection is closed without an answer (uvicorn logs it)")
                return None
            return _json(status, payload, self._remaining(tenant_id))
        finally:
            self.limiter.release(tenant_id)

    def _remaining(self, tenant_id: str) -> dict[str, str]:
        return {name: str(value) for name, value in self.limiter.remaining(tenant_id).items()}

    def _outside(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        """An answer for a status the definition does not document (401, 403, 429, 5xx): nothing to check."""
        self.stats["responses_outside_spec"] += 1
        self.stats[f"answered_{status}"] += 1
        return _json(status, body, headers)

    def _validated(self, operation: Operation, request: Request, body: bytes) -> Any:
        """The request's JSON, after checking it against the definition (raises ApiError 400)."""
        try:
            self.contract.validate_request(operation, query=list(request.query_params.multi_items()),
                                           headers=dict(request.headers), body=body or None,
                                           content_type=request.headers.get("content-type", "application/json"))
        except SpecViolation as violation:
            self.stats["requests_rejected"] += 1
            log.info("xero_sandbox.request_rejected", operation=operation.operation_id, problems=violation.problems)
            raise validation_exception([{"ValidationErrors": [{"Message": p} for p in violation.problems]}]) from None
        self.stats["requests_validated"] += 1
        return json.loads(body, parse_float=Decimal) if body else None

    def _answer(self, operation: Operation, status: int, payload: Any, now_ms: int) -> Any:
        if status == 200 and isinstance(payload, dict) and operation.api == "accounting":
            payload = {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": PROVIDER_NAME,
                       "DateTimeUTC": ms_datetime(now_ms), **payload}
        checked = self.contract.validate_response(operation, status, payload)
        self.stats["responses_validated" if checked else "responses_outside_spec"] += 1
        return payload

    def _accounting(self, request: Request, operation: Operation, tenant_id: str, raw: bytes,
                    now_ms: int) -> tuple[int, Any, bool]:
        key = request.headers.get("idempotency-key") if operation.method in ("PUT", "POST", "PATCH") else None
        try:
            body = self._validated(operation, request, raw)
            handler = HANDLERS.get(operation.key)
            if handler is None:
                self.stats["not_implemented"] += 1
                return 501, {"ErrorNumber": 501, "Type": "NotImplementedException",
                             "Message": f"The local Xero does not implement {operation.operation_id}"}, False
            fingerprint = hashlib.sha256(
                f"{operation.method} {operation.path.lower()}?{sorted(request.query_params.multi_items())}".encode()
                + raw).hexdigest()
            with self.store.transaction():
                if key:
                    if len(key) > 128:
                        raise validation_exception([], "The Idempotency-Key header is longer than 128 characters")
                    seen = self.store.remembered(tenant_id, key, now_ms - IDEMPOTENCY_TTL_MS)
                    if seen is not None:
                        if seen["fingerprint"] != fingerprint:
                            raise ApiError(400, {"ErrorNumber": 10, "Type": "ValidationException", "Message":
                                                 "The Idempotency-Key has already been used for a different request"})
                        self.stats["idempotent_replays"] += 1
                        return int(seen["status"]), json.loads(seen["body"]), True
                call = Call(operation, tenant_id, dict(request.query_params), dict(request.headers), body, now_ms,
                            self.store)
                try:
                    status, payload = handler(call)
                except ApiError as error:
                    status, payload = error.status, error.body
                payload = self._checked(operation, status, payload, now_ms)
                if key:
                    self.store.remember(tenant_id, key, fingerprint, status, payload, now_ms)
            return status, payload, True
        except ApiError as error:
            return error.status, self._checked(operation, error.status, error.body, now_ms), False
        except _InvalidAnswer as invalid:
            return 500, _problem(500, "Internal Server Error", str(invalid)), False

    def _checked(self, operation: Operation, status: int, payload: Any, now_ms: int) -> Any:
        try:
            return self._answer(operation, status, payload, now_ms)
        except SpecViolation as violation:
            self.stats["responses_invalid"] += 1
            log.error("xero_sandbox.invalid_answer", operation=operation.operation_id, status=status,
                      problems=violation.problems)
            raise _InvalidAnswer(f"the local Xero's answer does not conform to Xero's definition: {violation}") \
                from None

    def _identity(self, request: Request, operation: Operation, grant: Any, raw: bytes) -> Response:
        try:
            self._validated(operation, request, raw)
        except ApiError as error:
            return _json(error.status, error.body)
        if operation.operation_id == "getConnections":
            connections = self.oauth.connections(grant)
            event = request.query_params.get("authEventId")
            if event:
                connections = [c for c in connections if c["authEventId"] == event.lower()]
            return self._identity_answer(operation, 200, connections)
        if self.oauth.disconnect(grant, operation.params["id"]):
            return self._identity_answer(operation, 204, None)
        return self._identity_answer(operation, 404, None)

    def _identity_answer(self, operation: Operation, status: int, body: Any) -> Response:
        try:
            self._answer(operation, status, body, self.now_ms())
        except SpecViolation as violation:
            self.stats["responses_invalid"] += 1
            log.error("xero_sandbox.invalid_answer", operation=operation.operation_id, problems=violation.problems)
            return _json(500, _problem(500, "Internal Server Error", str(violation)))
        return Response(status_code=status) if body is None else _json(status, body)

    # -- OAuth ----------------------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        fields = await _form(request) if request.method == "POST" else list(request.query_params.multi_items())
        params = {k: v for k, v in fields if k not in ("tenant_id", "consent")}
        try:
            if request.method == "GET":
                self.oauth.check_authorize(params)
                return HTMLResponse(self.oauth.consent_page(params, self.store.tenants()))
            location = self.oauth.consent(params, [v for k, v in fields if k == "tenant_id"],
                                          ("consent", "allow") in fields, self.now_ms())
        except OAuthError as error:
            return HTMLResponse(f"<!doctype html><h1>Error: {error.error}</h1><p>{error.description or ''}</p>",
                                error.status)
        return RedirectResponse(location, 302)

    async def token(self, request: Request) -> Response:
        form = dict(await _form(request))
        try:
            self.oauth.authenticate_client(request.headers.get("authorization"), form)
            answer = await run_in_threadpool(self.oauth.token, form, self.now_ms())
        except OAuthError as error:
            self.stats[f"token_{error.error}"] += 1
            return JSONResponse(error.body(), error.status)
        self.contract.validate_schema("identity", "AccessToken", {k: v for k, v in answer.items() if k != "scope"})
        self.stats["tokens_issued"] += 1
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    async def revocation(self, request: Request) -> Response:
        form = dict(await _form(request))
        try:
            self.oauth.authenticate_client(request.headers.get("authorization"), form)
        except OAuthError as error:
            return JSONResponse(error.body(), error.status)
        await run_in_threadpool(self.oauth.revoke, form.get("token", ""))
        return Response(status_code=200)

    # -- the sandbox's own controls ----------------------------------------------------------------------

    async def sandbox_stats(self, request: Request) -> Response:
        return JSONResponse({
            "requests_validated": self.stats["requests_validated"],
            "requests_rejected": self.stats["requests_rejected"],
            "responses_validated": self.stats["responses_validated"],
            "responses_invalid": self.stats["responses_invalid"],
            **{k: v for k, v in sorted(self.stats.items())
               if k not in ("requests_validated", "requests_rejected", "responses_validated", "responses_invalid")},
            **self.limiter.stats(),
            "faults": self.faults.active(),
            "faults_fired": dict(self.faults.fired),
        })

    async def sandbox_calls(self, request: Request) -> Response:
        tenant = request.query_params.get("tenant_id")
        calls = [c for c in self.limiter.calls if tenant is None or c["tenant_id"] == tenant]
        return JSONResponse({"calls": calls})

    async def sandbox_tenants(self, request: Request) -> Response:
        if request.method == "POST":
            data = await request.json() if await request.body() else {}
            try:
                tenant_id = await run_in_threadpool(
                    lambda: create_tenant(self.store, str(data.get("name") or "Sandbox Organisation"),
                                          base_currency=data.get("base_currency"), country=data.get("country", "GB"),
                                          now_ms=self.now_ms(), sample_documents=bool(data.get("seed", True))))
            except ValueError as error:
                return JSONResponse({"error": str(error)}, 400)
            return JSONResponse(self._tenant(tenant_id), 201)
        return JSONResponse({"tenants": [self._tenant(str(row["id"])) for row in self.store.tenants()]})

    def _tenant(self, tenant_id: str) -> dict[str, Any]:
        row = self.store.tenant(tenant_id)
        assert row is not None
        return {"tenant_id": row["id"], "name": row["name"], "base_currency": row["base_currency"],
                "country": row["country"]}

    async def sandbox_state(self, request: Request) -> Response:
        tenant_id = request.path_params["tenant_id"].lower()
        collection = request.path_params["collection"].lower()
        if self.store.tenant(tenant_id) is None or collection not in COLLECTIONS:
            return JSONResponse({"error": "no such tenant or collection", "collections": list(COLLECTIONS)}, 404)
        if request.method == "PUT":
            # A raw object, as a test arranges what the API would not make; answers are still checked.
            doc_id = request.path_params["doc_id"].lower()
            doc = await request.json()
            number = {"contacts": "Name", "invoices": "InvoiceNumber", "items": "Code"}.get(collection)
            key = doc.get(number) if number else None
            await run_in_threadpool(self.store.put, tenant_id, collection, doc_id, doc, self.now_ms(),
                                    None if key is None else str(key) if collection == "invoices" else str(key).lower())
            return JSONResponse(doc)
        docs = await run_in_threadpool(self.store.list, tenant_id, collection)
        return JSONResponse({collection: docs})

    async def sandbox_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method == "POST":
            data = await request.json()
            try:
                faults = [Fault.model_validate(item) for item in (data if isinstance(data, list) else [data])]
            except ValidationError as error:
                return JSONResponse({"error": json.loads(error.json())}, 400)
            for fault in faults:
                if fault.kind == "revoke_grants":
                    await run_in_threadpool(self.oauth.revoke_grants)
                elif fault.kind in ONE_SHOT:
                    await run_in_threadpool(self.oauth.expire_tokens, fault.kind.split("_")[1])
                else:
                    self.faults.add(fault)
                self.stats[f"fault_{fault.kind}"] += 1
        return JSONResponse({"faults": self.faults.active()})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "tenants": len(self.store.tenants())})


async def _form(request: Request) -> list[tuple[str, str]]:
    """An ``application/x-www-form-urlencoded`` body (the OAuth endpoints take nothing else)."""
    return parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)


class _InvalidAnswer(Exception):
    pass


class _Asgi:
    """A bound ``(scope, receive, send)`` method as a route's ASGI app (Starlette calls plain methods with a
    Request instead)."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


class _KeepTransport:
    """Outermost ASGI layer: remembers the connection's transport (uvicorn's ``send`` is a bound method of
    its request cycle) so a fault can close the connection after the work committed, without an answer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            cycle = getattr(send, "__self__", None)
            scope[TRANSPORT] = getattr(cycle, "transport", None)
        await self.app(scope, receive, send)


def create_app(settings: Settings) -> Any:
    sandbox = Sandbox(settings)
    started = time.monotonic()
    routes = [
        Route("/_sandbox/health", sandbox.health),
        Route("/_sandbox/stats", sandbox.sandbox_stats),
        Route("/_sandbox/calls", sandbox.sandbox_calls),
        Route("/_sandbox/tenants", sandbox.sandbox_tenants, methods=["GET", "POST"]),
        Route("/_sandbox/tenants/{tenant_id}/{collection}", sandbox.sandbox_state),
        Route("/_sandbox/tenants/{tenant_id}/{collection}/{doc_id}", sandbox.sandbox_state, methods=["PUT"]),
        Route("/_sandbox/faults", sandbox.sandbox_faults, methods=["GET", "POST", "DELETE"]),
        Route("/identity/connect/authorize", sandbox.authorize, methods=["GET", "POST"]),
        Route("/connect/token", sandbox.token, methods=["POST"]),
        Route("/connect/revocation", sandbox.revocation, methods=["POST"]),
        Route("/{path:path}", _Asgi(sandbox.api)),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    log.info("xero_sandbox.ready", tenants=len(sandbox.store.tenants()), seconds=round(time.monotonic() - started, 2))
    return _KeepTransport(app)
