"""A local QuickBooks Online for the demo, the tests and the benchmarks: one process, one base URL, a free port.

    python -m sandboxes.quickbooks.sandbox start [--dir DIR] [--port PORT] [--companies N] [--time-scale X] [--json]
    python -m sandboxes.quickbooks.sandbox stop [--dir DIR]
    python -m sandboxes.quickbooks.sandbox status [--dir DIR] [--json]

The server runs in its own session with output to ``DIR/quickbooks.log`` and its pid in
``DIR/quickbooks.pid``; its state is ``DIR/quickbooks.sqlite``, so a restart keeps every company, object,
deletion and grant. ``DIR/config.json`` holds the app's credentials (generated once unless given) and
options; ``DIR/sandbox.json`` describes the running server (both mode 0600: they hold the client secret).
``stop`` ends exactly that pid after checking it still is this sandbox's server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
DEFAULT_DIR = Path(".booksync") / "quickbooks-sandbox"
PID_FILE = "quickbooks.pid"
LOG_FILE = "quickbooks.log"
_SERVER_MODULE = "sandboxes.quickbooks.server"
_children: dict[int, subprocess.Popen[bytes]] = {}


class SandboxError(RuntimeError):
    """The sandbox could not be started or stopped; the message says what to look at."""


@dataclass(frozen=True, slots=True)
class SandboxInfo:
    url: str
    client_id: str
    client_secret: str
    pid: int
    port: int
    directory: str
    realm_ids: list[str] = field(default_factory=list)
    time_scale: float = 1.0

    @property
    def authorization_endpoint(self) -> str:
        """Where appcenter.intuit.com/connect/oauth2 is."""
        return f"{self.url}/connect/oauth2"

    @property
    def token_endpoint(self) -> str:
        """Where oauth.platform.intuit.com/oauth2/v1/tokens/bearer is."""
        return f"{self.url}/oauth2/v1/tokens/bearer"

    @property
    def revocation_endpoint(self) -> str:
        """Where developer.api.intuit.com/v2/oauth2/tokens/revoke is."""
        return f"{self.url}/v2/oauth2/tokens/revoke"

    @property
    def api_base_url(self) -> str:
        """Where quickbooks.api.intuit.com is (the API's paths start with /v3/company/{realmId}/)."""
        return self.url

    @property
    def settings(self) -> dict[str, Any]:
        """A QuickBooks connection's non-secret settings pointing at this sandbox."""
        return {"api_base_url": self.api_base_url, "authorization_endpoint": self.authorization_endpoint,
                "token_endpoint": self.token_endpoint, "revocation_endpoint": self.revocation_endpoint}

    @property
    def credentials(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _write_private(path: Path, data: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            _children.pop(pid, None)
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _is_our_server(pid: int, directory: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _alive(pid)
    return _SERVER_MODULE.encode() in cmdline and str(directory).encode() in cmdline


def _wait(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


def _config(directory: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The app's credentials and options: kept from an earlier start unless given, generated the first time."""
    path = directory / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        config = {}
    config.update({key: value for key, value in overrides.items() if value is not None})
    config.setdefault("client_id", "AB" + secrets.token_hex(20))
    config.setdefault("client_secret", secrets.token_urlsafe(30))
    _write_private(path, config)
    return config


def _launch(directory: Path, port: int, config: dict[str, Any], timeout: float) -> int:
    log_path = directory / LOG_FILE
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", _SERVER_MODULE, "--dir", str(directory), "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=Path(__file__).resolve().parents[2],
        )
    _children[process.pid] = process
    (directory / PID_FILE).write_text(f"{process.pid}\n")
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
            (directory / PID_FILE).unlink(missing_ok=True)
            raise SandboxError(f"the QuickBooks sandbox did not start serving on {url} within {timeout:.0f} s:\n{_tail(log_path)}")
    return process.pid


def start_sandbox(
    directory: Path | str = DEFAULT_DIR,
    port: int | None = None,
    *,
    companies: int = 0,
    countries: Sequence[str] = ("US",),
    multicurrency: bool = False,
    time_scale: float | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    redirect_uris: Sequence[str] | None = None,
    access_token_lifetime: float | None = None,
    reject_old_minorversion: bool | None = None,
    limits: dict[str, int] | None = None,
    validation: str | None = None,
    timeout: float = 30.0,
) -> SandboxInfo:
    """Start (or return the already running) sandbox in ``directory``, with at least ``companies`` companies.

    New companies take their country from ``countries`` in turn. ``limits`` overrides Intuit's throttles
    (``per_minute``, ``in_flight``, ``batch_per_minute``, ``batch_per_minute_per_app``). ``validation`` is
    ``xmlschema`` (the default), ``fast`` (libxml2 first, for benchmarks) or ``both`` (cross-checked, for
    tests); see ``sandboxes.quickbooks.validation``. Options not given keep
    the values of an earlier start in the same directory (so a restart keeps the app's credentials).
    """
    directory = Path(directory).resolve()
    running = sandbox_status(directory)
    if running is None:
        directory.mkdir(parents=True, exist_ok=True)
        config = _config(directory, {
            "client_id": client_id, "client_secret": client_secret, "time_scale": time_scale,
            "redirect_uris": list(redirect_uris) if redirect_uris is not None else None,
            "access_token_lifetime": access_token_lifetime, "reject_old_minorversion": reject_old_minorversion,
            "validation": validation,
            **{key: int(value) for key, value in (limits or {}).items()
               if key in ("per_minute", "in_flight", "batch_per_minute", "batch_per_minute_per_app")},
        })
        attempts = 1 if port is not None else 3
        for attempt in range(attempts):
            chosen = port if port is not None else free_port()
            try:
                pid = _launch(directory, chosen, config, timeout)
                break
            except SandboxError:
                if attempt == attempts - 1:
                    raise
        info = SandboxInfo(f"http://{HOST}:{chosen}", config["client_id"], config["client_secret"], pid, chosen,
                           str(directory), [], float(config.get("time_scale", 1.0)))
    else:
        info = running
    with httpx.Client(base_url=info.url, timeout=60.0) as client:
        existing = client.get("/_sandbox/companies").json()["companies"]
        for index in range(len(existing), companies):
            country = countries[index % len(countries)] if countries else "US"
            response = client.post("/_sandbox/companies", json={"name": f"Sandbox Company {index + 1} ({country})",
                                                                 "country": country, "multicurrency": multicurrency})
            if response.status_code != 201:
                raise SandboxError(f"creating company {index + 1} failed: {response.text}")
        realm_ids = [company["realm_id"] for company in client.get("/_sandbox/companies").json()["companies"]]
    info = SandboxInfo(info.url, info.client_id, info.client_secret, info.pid, info.port, info.directory, realm_ids,
                       info.time_scale)
    _write_private(directory / "sandbox.json", info.to_dict())
    return info


def sandbox_status(directory: Path | str = DEFAULT_DIR) -> SandboxInfo | None:
    """The running sandbox in ``directory``, or None."""
    directory = Path(directory).resolve()
    try:
        data = json.loads((directory / "sandbox.json").read_text())
        pid = int((directory / PID_FILE).read_text())
    except (OSError, ValueError):
        return None
    if pid != data.get("pid") or not _alive(pid) or not _is_our_server(pid, directory):
        return None
    return SandboxInfo(**data)


def _terminate(pid: int, timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if _wait(lambda: not _alive(pid), timeout):
            break
    process = _children.pop(pid, None)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1.0)


def stop_sandbox(directory: Path | str = DEFAULT_DIR, *, timeout: float = 10.0) -> bool:
    """Stop the server started in ``directory``: SIGTERM, then SIGKILL after ``timeout``. State stays."""
    directory = Path(directory).resolve()
    pid_file = directory / PID_FILE
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return False
    was_running = _alive(pid) and _is_our_server(pid, directory)
    if was_running:
        _terminate(pid, timeout)
        if _alive(pid):
            raise SandboxError(f"the QuickBooks sandbox (pid {pid}) is still running after SIGKILL")
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


# -- command line -------------------------------------------------------------------------------


def _describe(info: SandboxInfo) -> str:
    return "\n".join(
        [
            f"QuickBooks Online sandbox is serving (pid {info.pid}, logs in {info.directory}/{LOG_FILE})",
            f"  api base url            {info.api_base_url}  (paths /v3/company/{{realmId}}/...)",
            f"  authorization endpoint  {info.authorization_endpoint}",
            f"  token endpoint          {info.token_endpoint}",
            f"  revocation endpoint     {info.revocation_endpoint}",
            f"  client id               {info.client_id}",
            f"  client secret           (in {info.directory}/sandbox.json)",
            f"  companies (realm ids)   {', '.join(info.realm_ids) or 'none yet'}",
            f"  time scale              {info.time_scale:g}",
            f"Stop it with: {sys.executable} -m sandboxes.quickbooks.sandbox stop --dir {info.directory}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.quickbooks.sandbox", description="A local QuickBooks Online.")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start (creating companies if asked), print how to connect")
    start.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    start.add_argument("--port", type=int)
    start.add_argument("--companies", type=int, default=1, help="make sure at least this many companies exist")
    start.add_argument("--country", action="append", dest="countries", help="country of new companies (repeat to cycle)")
    start.add_argument("--multicurrency", action="store_true")
    start.add_argument("--time-scale", type=float, help="shrink every rate-limit window by this factor")
    start.add_argument("--access-token-lifetime", type=float)
    start.add_argument("--reject-old-minorversion", action="store_true", default=None,
                       help="answer 400 to minorversion below 75 (Intuit serves them as 75)")
    start.add_argument("--validation", choices=("xmlschema", "fast", "both"),
                       help="xmlschema (default), fast (libxml2 first; benchmarks) or both (cross-checked)")
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
            info = start_sandbox(args.dir, port=args.port, companies=args.companies, countries=args.countries or ("US",),
                                 multicurrency=args.multicurrency, time_scale=args.time_scale,
                                 access_token_lifetime=args.access_token_lifetime, validation=args.validation,
                                 reject_old_minorversion=args.reject_old_minorversion,
                                 timeout=args.timeout)
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
