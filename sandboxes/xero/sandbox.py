"""The local Xero for the demo, the tests and the benchmarks: start, status, stop, and a consent helper.

    python -m sandboxes.xero.sandbox start [--dir DIR] [--port PORT] [--tenants N] [--time-scale X] [--json]
    python -m sandboxes.xero.sandbox stop [--dir DIR]
    python -m sandboxes.xero.sandbox status [--dir DIR] [--json]

The server (``sandboxes.xero.server``) runs in its own session with its output in ``DIR/xero.log`` and
its pid in ``DIR/xero.pid``; ``DIR/sandbox.json`` (mode 0600) says where it serves and with which app
credentials; ``DIR/xero.sqlite`` holds the books and the OAuth state, so a restart keeps both. The app's
client id and secret are generated on first start unless given, and kept (``DIR/app.json``).

One base URL serves everything that is several hosts at Xero: ``login.xero.com``'s
``/identity/connect/authorize``, ``identity.xero.com``'s ``/connect/token`` and ``/connect/revocation``,
and ``api.xero.com``'s ``/connections`` and ``/api.xro/2.0/...``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

# The process plumbing is the Tryton sandbox's (it imports nothing of Tryton).
from sandboxes.tryton.sandbox import HOST, REPO_ROOT, _alive, _children, _tail, _terminate, _wait, free_port

DEFAULT_DIR = Path(".booksync") / "xero-sandbox"
DEFAULT_SCOPES = ("openid", "profile", "email", "offline_access", "accounting.transactions",
                  "accounting.contacts", "accounting.settings")


class SandboxError(RuntimeError):
    """The sandbox could not be started or stopped; the message says what to look at."""


@dataclass(frozen=True)
class SandboxInfo:
    url: str
    client_id: str
    client_secret: str
    pid: int
    port: int
    directory: str
    tenant_ids: list[str] = field(default_factory=list)
    time_scale: float = 1.0
    redirect_uris: list[str] | None = None

    @property
    def api_url(self) -> str:
        return f"{self.url}/api.xro/2.0"

    @property
    def authorize_url(self) -> str:
        return f"{self.url}/identity/connect/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.url}/connect/token"

    @property
    def revocation_url(self) -> str:
        return f"{self.url}/connect/revocation"

    @property
    def connections_url(self) -> str:
        return f"{self.url}/connections"

    @property
    def credentials(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_sandbox/stats", timeout=10).raise_for_status().json()

    def state(self, tenant_id: str, collection: str) -> list[dict[str, Any]]:
        """A tenant's raw objects (``invoices``, ``contacts``, ...): the tests' oracle, not counted as calls."""
        response = httpx.get(f"{self.url}/_sandbox/tenants/{tenant_id}/{collection}", timeout=30)
        return response.raise_for_status().json()[collection]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def consent_location(info: SandboxInfo, *, redirect_uri: str, scopes: tuple[str, ...] | list[str] = DEFAULT_SCOPES,
                     state: str = "state", tenant_ids: list[str] | None = None, allow: bool = True,
                     client: httpx.Client | None = None, authorize_url: str | None = None) -> str:
    """Play the user who opens the consent page and clicks Allow (or Cancel): where Xero redirects them.

    ``authorize_url`` is a full URL as an app built it (``?response_type=code&client_id=...``); without
    it one is built from the other arguments.
    """
    url = authorize_url or f"{info.authorize_url}?" + urlencode({
        "response_type": "code", "client_id": info.client_id, "redirect_uri": redirect_uri,
        "scope": " ".join(scopes), "state": state})
    with contextlib.ExitStack() as stack:
        http = client or stack.enter_context(httpx.Client(timeout=10))
        page = http.get(url)
        if page.status_code != 200:
            raise SandboxError(f"the consent page answered {page.status_code}: {page.text[:200]}")
        params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        chosen = tenant_ids if tenant_ids is not None else info.tenant_ids
        form: dict[str, Any] = {**params, "tenant_id": list(chosen), "consent": "allow" if allow else "deny"}
        answer = http.post(info.authorize_url, data=form)
        if answer.status_code != 302:
            raise SandboxError(f"consenting answered {answer.status_code}: {answer.text[:200]}")
        return answer.headers["location"]


def authorize(info: SandboxInfo, *, redirect_uri: str = "http://127.0.0.1:9/callback",
              scopes: tuple[str, ...] | list[str] = DEFAULT_SCOPES, tenant_ids: list[str] | None = None) -> dict[str, Any]:
    """Consent and exchange the code, as an app's callback would: the token set (access, refresh, ...)."""
    location = consent_location(info, redirect_uri=redirect_uri, scopes=scopes, tenant_ids=tenant_ids)
    code = parse_qs(urlsplit(location).query)["code"][0]
    response = httpx.post(info.token_url, auth=(info.client_id, info.client_secret), timeout=10,
                          data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})
    return response.raise_for_status().json()


# -- running the server -------------------------------------------------------------------------------


def _is_our_server(pid: int, directory: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _alive(pid)
    return b"sandboxes.xero.server" in cmdline and str(directory).encode() in cmdline


def _write_private(path: Path, data: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)


def _app_credentials(directory: Path, client_id: str | None, client_secret: str | None) -> dict[str, str]:
    path = directory / "app.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    credentials = {
        "client_id": client_id or saved.get("client_id") or secrets.token_hex(16).upper(),
        "client_secret": client_secret or saved.get("client_secret") or secrets.token_urlsafe(36),
    }
    if credentials != saved:
        _write_private(path, credentials)
    return credentials


def _launch(directory: Path, port: int, *, tenants: int, time_scale: float, redirect_uris: list[str] | None,
            access_token_seconds: float, refresh_grace_seconds: float, limits: dict[str, int],
            credentials: dict[str, str], timeout: float) -> SandboxInfo:
    command = [sys.executable, "-m", "sandboxes.xero.server", "--dir", str(directory), "--port", str(port),
               "--tenants", str(tenants), "--time-scale", str(time_scale),
               "--access-token-seconds", str(access_token_seconds), "--refresh-grace-seconds", str(refresh_grace_seconds)]
    for uri in redirect_uris or []:
        command += ["--redirect-uri", uri]
    for name, value in limits.items():
        command += ["--" + name.replace("_", "-"), str(int(value))]
    log_path = directory / "xero.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=REPO_ROOT, start_new_session=True)
    _children[process.pid] = process  # so that stopping it also reaps it
    (directory / "xero.pid").write_text(f"{process.pid}\n")
    url = f"http://{HOST}:{port}"
    with httpx.Client(timeout=httpx.Timeout(5.0, connect=1.0)) as client:

        def ready() -> bool:
            if process.poll() is not None:
                return True
            try:
                return client.get(f"{url}/_sandbox/health").status_code == 200
            except httpx.TransportError:
                return False

        if not _wait(ready, timeout) or process.poll() is not None:
            _terminate(process.pid, 5.0)
            (directory / "xero.pid").unlink(missing_ok=True)
            raise SandboxError(f"the local Xero did not start serving on {url} within {timeout:.0f} s:\n"
                               f"{_tail(log_path)}")
        tenant_ids = [t["tenant_id"] for t in client.get(f"{url}/_sandbox/tenants").json()["tenants"]]
    info = SandboxInfo(url, credentials["client_id"], credentials["client_secret"], process.pid, port,
                       str(directory), tenant_ids, time_scale, redirect_uris)
    _write_private(directory / "sandbox.json", info.to_dict())
    return info


def start_sandbox(
    directory: Path | str = DEFAULT_DIR,
    port: int | None = None,
    *,
    tenants: int = 1,
    time_scale: float = 1.0,
    client_id: str | None = None,
    client_secret: str | None = None,
    redirect_uris: list[str] | None = None,
    access_token_seconds: float = 1800.0,
    refresh_grace_seconds: float = 1800.0,
    limits: dict[str, int] | None = None,
    timeout: float = 30.0,
) -> SandboxInfo:
    """Start (or return the already running) local Xero in ``directory`` with at least ``tenants`` tenants.

    Redirect URIs: any ``http://127.0.0.1:*`` or ``http://localhost:*`` unless a list is given. Xero's
    limits apply unless ``limits`` overrides some (``per_minute``, ``per_day``, ``concurrent``,
    ``app_per_minute``); ``time_scale`` divides their windows. ``access_token_seconds`` and
    ``refresh_grace_seconds`` shorten Xero's 30 minutes for tests.
    """
    directory = Path(directory).resolve()
    running = sandbox_status(directory)
    if running is not None:
        return running
    directory.mkdir(parents=True, exist_ok=True)
    credentials = _app_credentials(directory, client_id, client_secret)
    attempts = 1 if port is not None else 3
    for attempt in range(attempts):
        try:
            return _launch(directory, port if port is not None else free_port(), tenants=tenants,
                           time_scale=time_scale, redirect_uris=redirect_uris,
                           access_token_seconds=access_token_seconds, refresh_grace_seconds=refresh_grace_seconds,
                           limits=limits or {}, credentials=credentials, timeout=timeout)
        except SandboxError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def sandbox_status(directory: Path | str = DEFAULT_DIR) -> SandboxInfo | None:
    """The running local Xero in ``directory``, or None."""
    directory = Path(directory).resolve()
    try:
        data = json.loads((directory / "sandbox.json").read_text())
        pid = int((directory / "xero.pid").read_text())
    except (OSError, ValueError):
        return None
    if pid != data.get("pid") or not _alive(pid) or not _is_our_server(pid, directory):
        return None
    return SandboxInfo(**data)


def stop_sandbox(directory: Path | str = DEFAULT_DIR, *, timeout: float = 10.0) -> bool:
    """Stop the server started in ``directory`` (SIGTERM, then SIGKILL); its state stays for the next start."""
    directory = Path(directory).resolve()
    pid_file = directory / "xero.pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return False
    was_running = _alive(pid) and _is_our_server(pid, directory)
    if was_running:
        _terminate(pid, timeout)
        if _alive(pid):
            raise SandboxError(f"the local Xero (pid {pid}) is still running after SIGKILL")
    pid_file.unlink(missing_ok=True)
    (directory / "sandbox.json").unlink(missing_ok=True)
    return was_running


@contextlib.contextmanager
def running_sandbox(directory: Path | str, **options: Any) -> Iterator[SandboxInfo]:
    info = start_sandbox(directory, **options)
    try:
        yield info
    finally:
        stop_sandbox(directory)


# -- command line -------------------------------------------------------------------------------------


def _describe(info: SandboxInfo) -> str:
    return "\n".join([
        f"The local Xero is serving (pid {info.pid}, logs in {info.directory}/xero.log)",
        f"  base url        {info.url}",
        f"  authorize       {info.authorize_url}",
        f"  token           {info.token_url}",
        f"  connections     {info.connections_url}",
        f"  accounting api  {info.api_url}",
        f"  client id       {info.client_id}",
        f"  client secret   (in {info.directory}/sandbox.json)",
        f"  tenants         {', '.join(info.tenant_ids)}",
        f"  time scale      {info.time_scale:g}",
        f"Stop it with: {sys.executable} -m sandboxes.xero.sandbox stop --dir {info.directory}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.xero.sandbox",
                                     description="A local Xero that validates against Xero's OpenAPI definitions.")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start (state is kept in DIR), print where it serves")
    start.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    start.add_argument("--port", type=int)
    start.add_argument("--tenants", type=int, default=1, help="create tenants until there are at least N")
    start.add_argument("--time-scale", type=float, default=1.0, help="divide the limits' windows by X")
    start.add_argument("--client-id")
    start.add_argument("--client-secret")
    start.add_argument("--redirect-uri", action="append", dest="redirect_uris",
                       help="allowed redirect URI (repeatable); default: any http://127.0.0.1:* or localhost:*")
    start.add_argument("--access-token-seconds", type=float, default=1800.0)
    start.add_argument("--refresh-grace-seconds", type=float, default=1800.0)
    start.add_argument("--timeout", type=float, default=30.0)
    start.add_argument("--json", action="store_true")
    for name, text in (("stop", "stop the server by its pid"), ("status", "is it running?")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--dir", type=Path, default=DEFAULT_DIR)
        sub.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            started = time.monotonic()
            info = start_sandbox(args.dir, args.port, tenants=args.tenants, time_scale=args.time_scale,
                                 client_id=args.client_id, client_secret=args.client_secret,
                                 redirect_uris=args.redirect_uris, access_token_seconds=args.access_token_seconds,
                                 refresh_grace_seconds=args.refresh_grace_seconds, timeout=args.timeout)
            elapsed = time.monotonic() - started
            if args.json:
                print(json.dumps({**info.to_dict(), "seconds": round(elapsed, 2)}))
            else:
                print(_describe(info) + f"\n(ready in {elapsed:.1f} s)")
        elif args.command == "stop":
            stopped = stop_sandbox(args.dir)
            print(json.dumps({"stopped": stopped}) if args.json else ("stopped" if stopped else "not running"))
        else:
            status = sandbox_status(args.dir)
            if args.json:
                print(json.dumps(status.to_dict() if status else None))
            else:
                print(_describe(status) if status else "not running")
            return 0 if status else 3
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
