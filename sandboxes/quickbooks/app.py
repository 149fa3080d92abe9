"""The sandbox's HTTP server: QuickBooks Online's OAuth and Accounting API v3 (JSON) on one base URL.

Every request body the Accounting API receives is validated against Intuit's XSD before anything else
(a failure is 400 with a ``ValidationFault`` naming the element, counted as rejected), and every answer it
sends is validated before it leaves (a failure is a sandbox bug: 500, logged, counted in
``responses_invalid`` with the reason in ``response_errors``; tests assert there are none).

Paths are Intuit's: ``/connect/oauth2`` (appcenter.intuit.com), ``/oauth2/v1/tokens/bearer``
(oauth.platform.intuit.com), ``/v2/oauth2/tokens/revoke`` (developer.api.intuit.com), and
``/v3/company/{realmId}/...`` (quickbooks.api.intuit.com). ``/_sandbox/...`` is the sandbox's own control
plane (companies, raw state, stats, fault switches, clock), which no limit counts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from sandboxes.quickbooks import faults, query
from sandboxes.quickbooks.books import Books
from sandboxes.quickbooks.clock import Clock, parse_time, response_time
from sandboxes.quickbooks.entities import BY_PATH, KINDS
from sandboxes.quickbooks.faults import QuickBooksFault
from sandboxes.quickbooks.limits import Limits, Throttle
from sandboxes.quickbooks.oauth import HARD_EXPIRY_HEADER, AppCredentials, OAuthError, OAuthServer
from sandboxes.quickbooks.seed import seed_company
from sandboxes.quickbooks.store import Store
from sandboxes.quickbooks.switches import ACTION_KINDS, Switchboard, SwitchError
from sandboxes.quickbooks.validation import (
    CachedEntityValidator, SchemaValidationError, ValidatorDisagreement, intuit_schema, set_mode, validate_element,
    validate_entity,
)

log = structlog.get_logger("sandboxes.quickbooks")

LATEST_MINOR_VERSION = 75
"""Intuit serves minor version 75 to requests that name none, or one below it, since August 2025."""
BATCH_MAX_ITEMS = 30
CDC_MAX_DAYS = 30
CDC_MAX_OBJECTS = 1000


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    directory: str
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()
    time_scale: float = 1.0
    access_token_lifetime: float = 3600.0
    reject_old_minorversion: bool = False
    validation: str = "xmlschema"
    per_minute: int = 500
    in_flight: int = 10
    batch_per_minute: int = 120
    batch_per_minute_per_app: int = 40

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxConfig:
        known = {name for name in cls.__dataclass_fields__}
        values = {key: value for key, value in data.items() if key in known}
        if "redirect_uris" in values:
            values["redirect_uris"] = tuple(values["redirect_uris"])
        return cls(**values)


@dataclass
class Counters:
    requests_validated: int = 0
    requests_rejected: int = 0
    responses_validated: int = 0
    responses_invalid: int = 0
    response_errors: list[str] = field(default_factory=list)
    rejected_elements: dict[str, int] = field(default_factory=dict)
    old_minorversion: int = 0
    missing_minorversion: int = 0
    requestid_replays: int = 0
    cut_connections: int = 0
    injected_errors: int = 0
    unauthenticated: int = 0
    validator_disagreements: int = 0
    server_errors: int = 0


class ConnectionCut(Response):
    """Starts a complete-looking answer, sends half its body, and stops: the client sees the connection drop."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: max(1, len(self.body) // 2)], "more_body": True})


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = Store(config.directory)
        self.clock = Clock(float(self.store.get_meta("clock_offset") or 0.0))
        self.books = Books(self.store, self.clock, KINDS)
        self.oauth = OAuthServer(self.store, AppCredentials(config.client_id, config.client_secret, config.redirect_uris),
                                 access_lifetime=config.access_token_lifetime)
        self.throttle = Throttle(Limits(config.per_minute, config.in_flight, config.batch_per_minute,
                                        config.batch_per_minute_per_app, config.time_scale))
        self.switches = Switchboard()
        self.validator = CachedEntityValidator()
        self.counters = Counters()
        set_mode(config.validation)
        intuit_schema()

    # -- bodies ------------------------------------------------------------------------------------

    def time(self) -> str:
        return response_time(self.clock.now())

    def answer(self, status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Validate an Accounting API answer against the XSD; an invalid one is the sandbox's bug (500)."""
        try:
            self.validator.response(body)
        except ValidatorDisagreement as exc:
            return self.disagreement(exc)
        except SchemaValidationError as exc:
            self.counters.responses_invalid += 1
            message = f"{exc.element}: {exc.reason}"
            self.counters.response_errors = (self.counters.response_errors + [message])[-50:]
            log.error("sandbox answer failed Intuit's schema", element=exc.element, reason=exc.reason)
            return 500, faults.system(500, f"the sandbox produced an answer Intuit's schema rejects: {message}").body(self.time())
        self.counters.responses_validated += 1
        return status, body

    def disagreement(self, exc: ValidatorDisagreement) -> tuple[int, dict[str, Any]]:
        self.counters.validator_disagreements += 1
        self.counters.response_errors = (self.counters.response_errors + [str(exc)])[-50:]
        log.error("libxml2 and xmlschema disagree", detail=str(exc))
        return 500, faults.system(500, f"validators disagree: {exc}").body(self.time())

    def fault_answer(self, fault: QuickBooksFault) -> tuple[int, dict[str, Any]]:
        return self.answer(fault.status, fault.body(self.time()))

    def check_request(self, element: str, body: Any) -> None:
        try:
            validate_element(element, body) if element == "IntuitBatchRequest" else validate_entity(element, body)
        except ValidatorDisagreement as exc:
            self.counters.validator_disagreements += 1
            self.counters.response_errors = (self.counters.response_errors + [str(exc)])[-50:]
            log.error("libxml2 and xmlschema disagree", detail=str(exc))
            raise faults.system(500, f"validators disagree: {exc}") from None
        except SchemaValidationError as exc:
            self.counters.requests_rejected += 1
            self.counters.rejected_elements[exc.element] = self.counters.rejected_elements.get(exc.element, 0) + 1
            raise faults.schema_rejected(exc.element, exc.reason) from None
        finally:
            self.counters.requests_validated += 1

    # -- the Accounting API ---------------------------------------------------------------------------

    def dispatch(self, realm: str, method: str, parts: list[str], params: dict[str, str], body: Any
                 ) -> tuple[int, dict[str, Any]]:
        """One Accounting API call after authentication and admission; Faults come back as answers."""
        try:
            return self._dispatch(realm, method, parts, params, body)
        except QuickBooksFault as fault:
            return self.fault_answer(fault)

    def _dispatch(self, realm: str, method: str, parts: list[str], params: dict[str, str], body: Any
                  ) -> tuple[int, dict[str, Any]]:
        head = parts[0].lower() if parts else ""
        self.books.include = frozenset(v.strip().lower() for v in params.get("include", "").split(",") if v.strip())
        if head == "query" and method in ("GET", "POST"):
            text = params.get("query") if method == "GET" else (body if isinstance(body, str) else params.get("query"))
            return self.answer(200, {"QueryResponse": self.query(realm, text or ""), "time": self.time()})
        if head == "cdc" and method == "GET":
            return self.answer(200, self.cdc(realm, params))
        if head == "batch" and method == "POST":
            return self.answer(200, self.batch(realm, body))
        if head == "companyinfo" and method == "GET" and len(parts) == 2:
            return self.answer(200, {"CompanyInfo": self.books.read(realm, "CompanyInfo", "1" if parts[1] == realm else parts[1]),
                                     "time": self.time()})
        if head == "preferences" and method == "GET" and len(parts) == 1:
            return self.answer(200, {"Preferences": self.books.read(realm, "Preferences", "1"), "time": self.time()})
        entity = BY_PATH.get(head)
        if entity is None:
            raise faults.unsupported_operation(f"{method} /{'/'.join(parts)}")
        if method == "GET" and len(parts) == 2:
            return self.answer(200, {entity: self.books.read(realm, entity, parts[1]), "time": self.time()})
        if method == "POST" and len(parts) == 1:
            if not isinstance(body, dict):
                raise faults.schema_rejected(entity, "the body must be a JSON object")
            self.check_request(entity, body)
            result = self.write(realm, entity, params.get("operation", "").lower(), body)
            return self.answer(200, {entity: result, "time": self.time()})
        raise faults.unsupported_operation(f"{method} /{'/'.join(parts)}")

    def write(self, realm: str, entity: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        kind = self.books.kind(entity)
        if entity in ("CompanyInfo", "Preferences") and not body.get("Id"):
            raise faults.required(f"{entity}.Id")
        if operation == "delete":
            return self.books.delete(realm, entity, body)
        if operation == "void":
            if kind.void_by_update:
                raise faults.unsupported_operation(f"void on {entity}: send operation=update&include=void")
            return self.books.void(realm, entity, body)
        if operation in ("", "create", "update"):
            if operation == "update" and "void" in self.books.include and kind.void_by_update:
                return self.books.void(realm, entity, body)
            if body.get("Id") or operation == "update":
                return self.books.update(realm, entity, body)
            return self.books.create(realm, entity, body)
        raise faults.unsupported_operation(f"operation={operation} on {entity}")

    def query(self, realm: str, text: str) -> dict[str, Any]:
        parsed = query.parse(text)
        entity = next((name for name in KINDS if name.lower() == parsed.entity.lower()), None)
        if entity is None:
            raise faults.query_validation(f"Invalid context declaration : {parsed.entity}")
        kind = KINDS[entity]
        result = query.run(parsed, self.store.all(realm, entity), kind.queryable, kind.has_active)
        if isinstance(result, int):
            return {"totalCount": result}
        if not result:
            return {}
        if parsed.fields:
            for body in result:
                body["sparse"] = True
        return {entity: result, "startPosition": parsed.start, "maxResults": len(result)}

    def cdc(self, realm: str, params: dict[str, str]) -> dict[str, Any]:
        names = [name.strip() for name in params.get("entities", "").split(",") if name.strip()]
        if not names:
            raise faults.required("entities", "a comma-separated list of entities")
        entities = []
        for name in names:
            entity = next((known for known in KINDS if known.lower() == name.lower()), None)
            if entity is None:
                raise faults.validation("Invalid entity", f"CDC: {name} is not an entity this company can report", "2030", "entities")
            entities.append(entity)
        since_text = params.get("changedSince")
        if not since_text:
            raise faults.required("changedSince")
        try:
            since = parse_time(since_text)
        except ValueError:
            raise faults.validation("Invalid date", f"changedSince {since_text!r} is not a dateTime", "2030", "changedSince") from None
        if since < self.clock.now() - CDC_MAX_DAYS * 86400:
            raise faults.validation("Invalid changedSince", f"changedSince can't be more than {CDC_MAX_DAYS} days back",
                                    "2030", "changedSince")
        changes = []
        for entity in entities:
            changes.extend(self.store.changed_since(realm, entity, since, CDC_MAX_OBJECTS))
        changes.sort(key=lambda change: (change.updated_ts, change.seq))
        changes = changes[:CDC_MAX_OBJECTS]
        responses = []
        for entity in entities:
            objects = [change.body for change in changes if change.entity == entity]
            responses.append({entity: objects, "startPosition": 1, "maxResults": len(objects), "totalCount": len(objects)}
                             if objects else {})
        return {"CDCResponse": [{"QueryResponse": responses}], "time": self.time()}

    def batch(self, realm: str, body: Any) -> dict[str, Any]:
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or set(body) != {"BatchItemRequest"}:
            self.counters.requests_validated += 1
            self.counters.requests_rejected += 1
            raise faults.schema_rejected("IntuitBatchRequest", 'the body must be {"BatchItemRequest": [...]}')
        if len(items) > BATCH_MAX_ITEMS:
            raise faults.validation("Batch size limit exceeded",
                                    f"A batch request can carry at most {BATCH_MAX_ITEMS} items; this one has {len(items)}",
                                    "1001", "BatchItemRequest")
        answers = []
        for item in items:
            bid = item.get("bId") if isinstance(item, dict) else None
            try:
                answer = self.batch_item(realm, item)
            except QuickBooksFault as fault:
                answer = {"Fault": fault.fault_json()}
            answers.append({**answer, "bId": bid} if bid is not None else answer)
        return {"BatchItemResponse": answers, "time": self.time()}

    def batch_item(self, realm: str, item: Any) -> dict[str, Any]:
        self.check_request("IntuitBatchRequest", {"BatchItemRequest": [item]})
        if "Query" in item:
            return {"QueryResponse": self.query(realm, item["Query"])}
        entity = next((key for key in item if key in KINDS), None)
        if entity is None:
            raise faults.unsupported_operation("this batch item (the sandbox batches entity operations and queries)")
        operation = (item.get("operation") or "create").lower()
        self.books.include = frozenset()
        if operation == "void" or (operation == "update" and item.get("optionsData") == "void"):
            return {entity: self.books.void(realm, entity, item[entity])}
        return {entity: self.write(realm, entity, "" if operation == "create" else operation, item[entity])}


def _api(status: int, body: Any) -> Response:
    """An Accounting API answer, with the ``intuit_tid`` header Intuit puts on each (its support's trace id)."""
    return _json(status, body, {"intuit_tid": uuid.uuid4().hex})


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":"), default=_default), status_code=status,
                    media_type="application/json", headers=headers)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def create_app(config: SandboxConfig) -> FastAPI:
    sandbox = Sandbox(config)
    app = FastAPI(title="QuickBooks Online sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = sandbox

    # -- OAuth ----------------------------------------------------------------------------------------

    @app.get("/connect/oauth2")
    async def authorize(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            return HTMLResponse(sandbox.oauth.consent_page(params, sandbox.store.companies()))
        except OAuthError as exc:
            return HTMLResponse(f"<!doctype html><p>Error: {exc.error} ({exc.description})</p>", status_code=exc.status)

    @app.post("/connect/oauth2/consent")
    async def consent(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        try:
            return RedirectResponse(sandbox.oauth.consent(form, sandbox.clock.now()), status_code=302)
        except OAuthError as exc:
            return HTMLResponse(f"<!doctype html><p>Error: {exc.error} ({exc.description})</p>", status_code=exc.status)

    @app.post("/oauth2/v1/tokens/bearer")
    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        try:
            sandbox.oauth.authenticate_client(request.headers.get("authorization"))
            include = request.headers.get(HARD_EXPIRY_HEADER, "").lower() == "true"
            body = sandbox.oauth.token(form, sandbox.clock.now(), include_hard_expiry=include)
        except OAuthError as exc:
            return _json(exc.status, exc.body())
        return _json(200, body, {"Cache-Control": "no-store"})

    @app.post("/v2/oauth2/tokens/revoke")
    async def revoke(request: Request) -> Response:
        try:
            sandbox.oauth.authenticate_client(request.headers.get("authorization"))
            payload = json.loads(await request.body() or b"{}")
            sandbox.oauth.revoke(str(payload.get("token", "")))
        except OAuthError as exc:
            return _json(exc.status, exc.body())
        except (ValueError, AttributeError):
            return _json(400, {"error": "invalid_request"})
        return Response(status_code=200)

    # -- the Accounting API -----------------------------------------------------------------------------

    @app.api_route("/v3/company/{realm}/{rest:path}", methods=["GET", "POST"])
    async def accounting(realm: str, rest: str, request: Request) -> Response:
        method = request.method
        path = request.url.path
        params = dict(request.query_params)
        try:
            grant = sandbox.oauth.bearer(request.headers.get("authorization"), sandbox.clock.now())
            if grant.realm_id != realm:
                raise OAuthError(401, "invalid_token", f"the token is for another company, not realm {realm}")
        except OAuthError as exc:
            sandbox.counters.unauthenticated += 1
            status, body = sandbox.fault_answer(faults.authentication(exc.description or exc.error))
            return _api(status, body)
        if sandbox.switches.take("throttle", method, path, realm) is not None:
            status, body = sandbox.fault_answer(sandbox.throttle.throttle_fault(realm, "fault_switch"))
            return _api(status, body)
        parts = [part for part in rest.split("/") if part]
        try:
            sandbox.throttle.enter(realm, grant.client_id, batch=bool(parts) and parts[0].lower() == "batch",
                                   method=method, path=path)
        except QuickBooksFault as fault:
            status, body = sandbox.fault_answer(fault)
            return _api(status, body)
        try:
            # The whole request is in hand before the wait, as a server has it while it works: a client that goes
            # away meanwhile (killed mid-call) does not stop the work, and a latency fired means it arrived.
            await request.body()
            latency = sandbox.switches.take("latency", method, path, realm)
            if latency is not None:
                await asyncio.sleep(latency.seconds_each)
            return await _accounting(sandbox, realm, method, path, parts, params, request)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug still answers as QuickBooks would, and is counted
            sandbox.counters.server_errors += 1
            sandbox.counters.response_errors = (sandbox.counters.response_errors + [f"{type(exc).__name__}: {exc}"])[-50:]
            log.exception("sandbox error", method=method, path=path)
            return _api(500, faults.system(500, f"sandbox error: {type(exc).__name__}").body(sandbox.time()))
        finally:
            sandbox.throttle.leave(realm)

    async def _accounting(sandbox: Sandbox, realm: str, method: str, path: str, parts: list[str], params: dict[str, str],
                          request: Request) -> Response:
        accept = request.headers.get("accept", "")
        if "application/json" not in accept.lower():
            status, body = sandbox.fault_answer(faults.validation(
                "Unsupported Accept", f"This sandbox answers JSON only: send Accept: application/json (got {accept!r})",
                "4005", status=406))
            return _api(status, body)
        minor = params.get("minorversion")
        if minor is None:
            sandbox.counters.missing_minorversion += 1
        elif not minor.isdigit():
            status, body = sandbox.fault_answer(faults.validation("Invalid minorversion", f"minorversion {minor!r} is not a number", "4006"))
            return _api(status, body)
        elif int(minor) < LATEST_MINOR_VERSION:
            sandbox.counters.old_minorversion += 1
            if sandbox.config.reject_old_minorversion:
                status, body = sandbox.fault_answer(faults.validation(
                    "Unsupported minorversion", f"minorversion {minor} is no longer supported; use {LATEST_MINOR_VERSION} or later",
                    "4006"))
                return _api(status, body)
        error = sandbox.switches.take("error", method, path, realm)
        if error is not None:
            sandbox.counters.injected_errors += 1
            fault = faults.system(error.status, "Service temporarily unavailable (sandbox fault switch)")
            return _api(error.status, fault.body(sandbox.time()))
        raw = await request.body()
        body: Any = None
        if method == "POST" and raw:
            content_type = request.headers.get("content-type", "").lower()
            if parts and parts[0].lower() == "query" and not content_type.startswith("application/json"):
                body = raw.decode()
            elif not content_type.startswith("application/json"):
                sandbox.counters.requests_validated += 1
                sandbox.counters.requests_rejected += 1
                status, answer = sandbox.fault_answer(faults.validation(
                    "Unsupported Content-Type", f"This sandbox reads JSON bodies only: send Content-Type: application/json "
                    f"(got {content_type!r})", "2010", "Content-Type"))
                return _api(status, answer)
            else:
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    sandbox.counters.requests_validated += 1
                    sandbox.counters.requests_rejected += 1
                    status, answer = sandbox.fault_answer(faults.schema_rejected("body", f"not JSON ({exc})"))
                    return _api(status, answer)
        request_id = params.get("requestid") if method == "POST" else None
        if request_id:
            replay = sandbox.store.replay(realm, request_id)
            if replay is not None:
                sandbox.counters.requestid_replays += 1
                return _api(replay[0], replay[1])
        status, answer = sandbox.dispatch(realm, method, parts, params, body)
        if request_id and status < 500:
            sandbox.store.remember(realm, request_id, status, answer, sandbox.clock.now())
        if status == 200 and method == "POST" and sandbox.switches.take("cut_after_commit", method, path, realm) is not None:
            sandbox.counters.cut_connections += 1
            return ConnectionCut(json.dumps(answer, separators=(",", ":")).encode(), status_code=200,
                                 media_type="application/json")
        return _api(status, answer)

    # -- the sandbox's own control plane -------------------------------------------------------------------

    @app.get("/_sandbox/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "companies": len(sandbox.store.companies())}

    @app.get("/_sandbox/stats")
    async def stats() -> dict[str, Any]:
        counters = sandbox.counters
        return {
            "requests_validated": counters.requests_validated,
            "requests_rejected": counters.requests_rejected,
            "rejected_elements": counters.rejected_elements,
            "responses_validated": counters.responses_validated,
            "responses_invalid": counters.responses_invalid,
            "response_errors": counters.response_errors,
            "old_minorversion": counters.old_minorversion,
            "missing_minorversion": counters.missing_minorversion,
            "requestid_replays": counters.requestid_replays,
            "cut_connections": counters.cut_connections,
            "injected_errors": counters.injected_errors,
            "unauthenticated": counters.unauthenticated,
            "validator_disagreements": counters.validator_disagreements,
            "server_errors": counters.server_errors,
            "validation_mode": sandbox.config.validation,
            **sandbox.throttle.stats(),
        }

    @app.delete("/_sandbox/stats")
    async def reset_stats() -> dict[str, Any]:
        sandbox.counters = Counters()
        sandbox.throttle.reset()
        return {"reset": True}

    @app.get("/_sandbox/calls")
    async def calls(realm_id: str | None = None) -> dict[str, Any]:
        return {"calls": sandbox.throttle.calls(realm_id)}

    @app.get("/_sandbox/companies")
    async def companies() -> dict[str, Any]:
        return {"companies": [{"realm_id": realm, **settings} for realm, settings in sandbox.store.companies()]}

    @app.post("/_sandbox/companies")
    async def create_company(request: Request) -> Response:
        spec = json.loads(await request.body() or b"{}")
        count = len(sandbox.store.companies())
        try:
            created = seed_company(sandbox.books, name=spec.get("name") or f"Sandbox Company {count + 1}",
                                   country=spec.get("country", "US"), currency=spec.get("currency"),
                                   multicurrency=bool(spec.get("multicurrency", False)),
                                   documents=bool(spec.get("seed", True)))
        except (ValueError, QuickBooksFault) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(created, status_code=201)

    @app.get("/_sandbox/companies/{realm}/{entity}")
    async def raw_state(realm: str, entity: str) -> Response:
        name = next((known for known in KINDS if known.lower() == entity.lower()), None)
        if name is None or sandbox.store.company(realm) is None:
            return JSONResponse({"error": f"no {entity} in realm {realm}"}, status_code=404)
        everything = sandbox.store.all(realm, name, include_deleted=True)
        return _json(200, {"entity": name, "objects": [b for b in everything if b.get("status") != "Deleted"],
                           "deleted": [b["Id"] for b in everything if b.get("status") == "Deleted"]})

    @app.get("/_sandbox/faults")
    async def list_faults() -> dict[str, Any]:
        return {"faults": sandbox.switches.to_json()}

    @app.post("/_sandbox/faults")
    async def add_fault(request: Request) -> Response:
        spec = json.loads(await request.body() or b"{}")
        kind = spec.get("kind")
        now = sandbox.clock.now()
        realm = spec.get("realm_id")
        if kind in ACTION_KINDS:
            affected = {"revoke_grant": lambda: sandbox.oauth.revoke_grants(realm),
                        "expire_refresh_tokens": lambda: sandbox.oauth.expire_refresh_tokens(now, realm),
                        "expire_access_tokens": lambda: sandbox.oauth.expire_access_tokens(now, realm)}[kind]()
            return JSONResponse({"kind": kind, "affected": affected}, status_code=201)
        try:
            switch = sandbox.switches.add(spec)
        except SwitchError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(switch.to_json(), status_code=201)

    @app.delete("/_sandbox/faults")
    async def clear_faults() -> dict[str, Any]:
        return {"cleared": sandbox.switches.clear()}

    @app.get("/_sandbox/clock")
    async def clock() -> dict[str, Any]:
        return {"now": sandbox.clock.now(), "offset": sandbox.clock.offset, "time": sandbox.time()}

    @app.post("/_sandbox/clock")
    async def move_clock(request: Request) -> dict[str, Any]:
        spec = json.loads(await request.body() or b"{}")
        sandbox.clock.advance(float(spec.get("advance_seconds", 0)))
        sandbox.store.set_meta("clock_offset", repr(sandbox.clock.offset))
        return {"now": sandbox.clock.now(), "offset": sandbox.clock.offset, "time": sandbox.time()}

    return app
