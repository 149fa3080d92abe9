"""The accounting systems ``booksync demo`` can sync with, each started locally and connected the way a user would.

- ``tryton``: the Tryton sandbox (a real Tryton 8.2 server); the connection is made with its credentials, as
  ``POST /accounting-connections`` does after its test call, and posts what it pushes (Tryton pays only posted
  invoices).
- ``quickbooks_online``: the local QuickBooks Online (``sandboxes.quickbooks``), a company keeping its books in USD
  with a standard 20% and a reduced 10% VAT; ``xero``: the local Xero (``sandboxes.xero``), a GB organisation
  keeping its books in USD. For both, booksync's settings point at the stand-in, the API runs, and the
  connection is made through the real OAuth flow (``OAuthBooks``): ``POST /accounting-connections`` answers a
  ``connection_url``, the demo plays the person who clicks Allow on the consent page, and the browser's redirect
  lands on booksync's callback.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx


@dataclass
class Connected:
    connection_id: uuid.UUID
    company: str  #: the company's name in the accounting system


class DemoBooks(Protocol):
    platform: str
    name: str  #: as people name the system ("Tryton")
    #: What the worker and beat need in their environment besides the demo's (app credentials, URLs).
    env: dict[str, str]

    def start(self, home: Path, say: Callable[[str], None]) -> None: ...

    def connect(self, organization_id: uuid.UUID, say: Callable[[str], None]) -> Connected: ...

    def stop(self) -> None: ...

    def left_running(self) -> list[str]: ...


@dataclass
class TrytonBooks:
    platform: str = "tryton"
    name: str = "Tryton"
    env: dict[str, str] = field(default_factory=dict)
    sandbox: Any = None
    directory: Path | None = None

    def start(self, home: Path, say: Callable[[str], None]) -> None:
        from sandboxes.tryton.sandbox import cached_template, start_sandbox

        self.directory = home / "tryton"
        say(f"[1/6] starting the Tryton sandbox (a real Tryton 8.2 server) in {self.directory} ...")
        self.sandbox = start_sandbox(self.directory, template=cached_template())
        say(f"      Tryton is serving at {self.sandbox.url} (database {self.sandbox.database})")

    def connect(self, organization_id: uuid.UUID, say: Callable[[str], None]) -> Connected:
        from datetime import UTC, datetime

        from config.secrets import Credentials
        from models import AccountingConnection, ConnectionStatus
        from models.db import session_scope
        from providers.registry import provider_class
        from tasks.engine.sync import schedule_first_sync

        cls = provider_class("tryton")
        # Posted, as an organization that pays its bills through the platform keeps them: Tryton pays only posted
        # invoices, so the demo's payments arrive with the sync that pushes their documents.
        settings = {**self.sandbox.settings, "post_documents": True}
        cls.validate_settings(settings, self.sandbox.credentials)
        with cls(settings, Credentials(self.sandbox.credentials)) as provider:
            check = provider.check()
        now = datetime.now(UTC)
        with session_scope() as session:
            connection = AccountingConnection(
                organization_id=organization_id, platform="tryton", status=ConnectionStatus.CONNECTED.value,
                settings={**settings, **check.pinned_settings}, credentials=self.sandbox.credentials,
                books_id=check.books_id, connected_at=now, backfill=True,
            )
            session.add(connection)
            session.flush()
            schedule_first_sync(connection, now)
            connection_id = connection.id
        return Connected(connection_id, check.organization_name)

    def stop(self) -> None:
        from sandboxes.tryton.sandbox import stop_sandbox

        if self.directory is not None:
            stop_sandbox(self.directory)

    def left_running(self) -> list[str]:
        return [f"Tryton pid {self.sandbox.pid}",
                f"python -m sandboxes.tryton.sandbox stop --dir {self.directory}"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OAuthBooks:
    """A cloud system's stand-in connected the way a person does: booksync's API runs, ``POST
    /accounting-connections`` answers a ``connection_url``, the demo plays the person who clicks Allow on the
    consent page, and the browser's redirect lands on booksync's callback."""

    platform: str
    env: dict[str, str]
    api: subprocess.Popen[bytes] | None
    api_url: str
    logs: Path | None

    def _configure_api(self, home: Path, settings: dict[str, str]) -> None:
        port = _free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        self.logs = home / "logs"
        self.env = {**settings, "BOOKSYNC_PUBLIC_URL": self.api_url, "BOOKSYNC_API_PORT": str(port)}

    def _consent(self, connection_url: str) -> str:
        """Where the person's browser goes after they click Allow on the consent page."""
        raise NotImplementedError

    def _chosen(self) -> str:
        """What the person chooses on the consent page, for the demo's narration."""
        raise NotImplementedError

    def connect(self, organization_id: uuid.UUID, say: Callable[[str], None]) -> Connected:
        from api.keys import create_api_key
        from models.db import session_scope

        assert self.logs is not None
        booksync = str(Path(sys.executable).parent / "booksync")
        with open(self.logs / "api.log", "ab") as log:
            self.api = subprocess.Popen([booksync, "api", "--port", self.env["BOOKSYNC_API_PORT"]], stdout=log,
                                        stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True)
        with httpx.Client(base_url=self.api_url, timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if self.api.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"booksync's API did not start; see {self.logs / 'api.log'}")
                time.sleep(0.2)
            with session_scope() as session:
                key = create_api_key(session, organization_id, name="demo").key
            headers = {"Authorization": f"Bearer {key}", "X-Organization-Id": str(organization_id)}
            created = client.post("/accounting-connections", headers=headers,
                                  json={"platform": self.platform, "backfill": True})
            created.raise_for_status()
            connection = created.json()
            say(f"      POST /accounting-connections: {connection['status']}; the person opens its connection_url")
            location = self._consent(connection["connection_url"])
            say(f"      they click Allow for {self._chosen()}; their browser is sent to booksync's callback")
            page = client.get(location)
            if page.status_code != 200:
                raise RuntimeError(f"the OAuth callback answered {page.status_code}: {page.text[:300]}")
            shown = client.get(f"/accounting-connections/{connection['id']}", headers=headers).json()
        info = shown.get("business_info") or {}
        say(f"      the connection is {shown['status']}: {info.get('name')} ({info.get('type')})")
        return Connected(uuid.UUID(connection["id"]), str(info.get("name")))

    def _stop_api(self) -> None:
        if self.api is not None and self.api.poll() is None:
            self.api.terminate()
            try:
                self.api.wait(20)
            except subprocess.TimeoutExpired:
                self.api.kill()
                self.api.wait(5)


@dataclass
class QuickBooksBooks(OAuthBooks):
    platform: str = "quickbooks_online"
    name: str = "QuickBooks Online"
    env: dict[str, str] = field(default_factory=dict)
    sandbox: Any = None
    realm_id: str = ""
    directory: Path | None = None
    api: subprocess.Popen[bytes] | None = None
    api_url: str = ""
    logs: Path | None = None

    def start(self, home: Path, say: Callable[[str], None]) -> None:
        from sandboxes.quickbooks import start_sandbox

        self.directory = home / "quickbooks"
        say(f"[1/6] starting the local QuickBooks Online (Intuit's OAuth and Accounting API, every body checked "
            f"against Intuit's XSD) in {self.directory} ...")
        self.sandbox = start_sandbox(self.directory)
        created = httpx.post(f"{self.sandbox.url}/_sandbox/companies", timeout=30, json={
            "name": "Acme Books (QuickBooks)", "country": "FR", "currency": "USD"})
        created.raise_for_status()
        self.realm_id = created.json()["realm_id"]
        info = self.sandbox
        self._configure_api(home, {
            "BOOKSYNC_QUICKBOOKS_CLIENT_ID": info.client_id, "BOOKSYNC_QUICKBOOKS_CLIENT_SECRET": info.client_secret,
            "BOOKSYNC_QUICKBOOKS_AUTHORIZE_URL": info.authorization_endpoint,
            "BOOKSYNC_QUICKBOOKS_TOKEN_URL": info.token_endpoint,
            "BOOKSYNC_QUICKBOOKS_REVOCATION_URL": info.revocation_endpoint,
            "BOOKSYNC_QUICKBOOKS_API_URL": info.api_base_url, "BOOKSYNC_QUICKBOOKS_SANDBOX_API_URL": info.api_base_url,
        })
        say(f"      QuickBooks is serving at {info.url}; company realm {self.realm_id}")

    def _consent(self, connection_url: str) -> str:
        """The person on Intuit's consent page: chooses the company, clicks Allow; where the browser goes next."""
        with httpx.Client(timeout=30, follow_redirects=False) as browser:
            page = browser.get(connection_url)
            page.raise_for_status()
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
            answer = browser.post(f"{self.sandbox.url}/connect/oauth2/consent",
                                  data={**fields, "realm_id": self.realm_id, "action": "allow"})
        if answer.status_code != 302:
            raise RuntimeError(f"the consent page answered {answer.status_code}: {answer.text[:300]}")
        return str(answer.headers["location"])

    def _chosen(self) -> str:
        return f"realm {self.realm_id}"

    def stop(self) -> None:
        from sandboxes.quickbooks import stop_sandbox

        self._stop_api()
        if self.directory is not None:
            stop_sandbox(self.directory)

    def left_running(self) -> list[str]:
        api = f"booksync API pid {self.api.pid} at {self.api_url}" if self.api else ""
        return [f"local QuickBooks pid {self.sandbox.pid} at {self.sandbox.url}, {api}",
                f"kill {self.api.pid if self.api else ''}; "
                f"python -m sandboxes.quickbooks.sandbox stop --dir {self.directory}"]


@dataclass
class XeroBooks(OAuthBooks):
    platform: str = "xero"
    name: str = "Xero"
    env: dict[str, str] = field(default_factory=dict)
    sandbox: Any = None
    tenant_id: str = ""
    directory: Path | None = None
    api: subprocess.Popen[bytes] | None = None
    api_url: str = ""
    logs: Path | None = None

    def start(self, home: Path, say: Callable[[str], None]) -> None:
        from sandboxes.xero.sandbox import start_sandbox

        self.directory = home / "xero"
        say(f"[1/6] starting the local Xero (Xero's OAuth and Accounting API, every request and answer checked "
            f"against Xero's OpenAPI definition) in {self.directory} ...")
        self.sandbox = start_sandbox(self.directory, tenants=0)
        created = httpx.post(f"{self.sandbox.url}/_sandbox/tenants", timeout=30, json={
            "name": "Acme Books (Xero)", "base_currency": "USD", "country": "GB"})
        created.raise_for_status()
        self.tenant_id = created.json()["tenant_id"]
        # the organisation's accountant has set up a reduced 10% rate, as the demo's documents use (Tryton's
        # seed has one too); 7% stays missing, so the demo shows a refusal a person can act on
        vat = [{"Name": "VAT", "Rate": 10.0, "IsCompound": False, "IsNonRecoverable": False}]
        httpx.put(f"{self.sandbox.url}/_sandbox/tenants/{self.tenant_id}/taxrates/TAX002", timeout=30, json={
            "Name": "10% (reduced)", "TaxType": "TAX002", "TaxComponents": vat, "Status": "ACTIVE",
            "ReportTaxType": "OUTPUT", "CanApplyToAssets": True, "CanApplyToEquity": True,
            "CanApplyToExpenses": True, "CanApplyToLiabilities": True, "CanApplyToRevenue": True,
            "DisplayTaxRate": 10.0, "EffectiveRate": 10.0,
        }).raise_for_status()
        info = self.sandbox
        self._configure_api(home, {
            "BOOKSYNC_XERO_CLIENT_ID": info.client_id, "BOOKSYNC_XERO_CLIENT_SECRET": info.client_secret,
            "BOOKSYNC_XERO_AUTHORIZE_URL": info.authorize_url, "BOOKSYNC_XERO_TOKEN_URL": info.token_url,
            "BOOKSYNC_XERO_REVOCATION_URL": info.revocation_url, "BOOKSYNC_XERO_CONNECTIONS_URL": info.connections_url,
            "BOOKSYNC_XERO_API_URL": info.api_url,
        })
        say(f"      Xero is serving at {info.url}; organisation (tenant) {self.tenant_id}")

    def _consent(self, connection_url: str) -> str:
        from sandboxes.xero.sandbox import consent_location

        return consent_location(self.sandbox, redirect_uri=f"{self.api_url}/oauth/callback",
                                authorize_url=connection_url, tenant_ids=[self.tenant_id])

    def _chosen(self) -> str:
        return f"organisation {self.tenant_id}"

    def stop(self) -> None:
        from sandboxes.xero.sandbox import stop_sandbox

        self._stop_api()
        if self.directory is not None:
            stop_sandbox(self.directory)

    def left_running(self) -> list[str]:
        api = f"booksync API pid {self.api.pid} at {self.api_url}" if self.api else ""
        return [f"local Xero pid {self.sandbox.pid} at {self.sandbox.url}, {api}",
                f"kill {self.api.pid if self.api else ''}; python -m sandboxes.xero.sandbox stop --dir {self.directory}"]


BOOKS: dict[str, Callable[[], DemoBooks]] = {
    "tryton": TrytonBooks, "quickbooks_online": QuickBooksBooks, "xero": XeroBooks,
}
