"""A local Tryton server for the demo and the tests: SQLite database, seeded company, free port.

    python -m sandboxes.tryton.sandbox start [--dir DIR] [--port PORT] [--template TEMPLATE_DIR] [--install] [--json]
    python -m sandboxes.tryton.sandbox start --cached-template   # the shared template under .booksync/cache
    python -m sandboxes.tryton.sandbox stop [--dir DIR]
    python -m sandboxes.tryton.sandbox status [--dir DIR] [--json]
    python -m sandboxes.tryton.sandbox prepare-template TEMPLATE_DIR

Initializing the database (``trytond-admin`` activating account_invoice) takes ~11 s and seeding
~3 s; copying an already prepared SQLite file takes milliseconds. So a *template* directory holds
a prepared ``sync_demo.sqlite`` (plus ``seed.json``, what the seed created), and ``start --template``
copies it instead of rebuilding. ``cached_template()`` keeps one under ``.booksync/cache`` keyed by
the trytond version, this package's source and today's date (the seeded fiscal year is relative to
today).

Tryton is whatever the running interpreter has installed (the project's ``sandbox`` extra); every
trytond step runs in a subprocess of that interpreter, so this module imports neither trytond nor
proteus. The server is started in its own session with output to ``DIR/trytond.log`` and its pid in
``DIR/trytond.pid``; ``stop`` ends exactly that pid after checking it still is that server.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

DATABASE = "sync_demo"
USERNAME = "admin"
PASSWORD = "admin"
EMAIL = "admin@example.com"
HOST = "127.0.0.1"
DB_FILE = f"{DATABASE}.sqlite"
DEFAULT_DIR = Path(".booksync") / "tryton-sandbox"
REPO_ROOT = Path(__file__).resolve().parents[2]

_SERVER_CODE = "import sys; from trytond.cli import main; sys.argv[0] = 'trytond'; sys.exit(main())"
_ADMIN_CODE = "import sys; from trytond.cli.admin import main; sys.argv[0] = 'trytond-admin'; sys.exit(main())"
_children: dict[int, subprocess.Popen[bytes]] = {}


class SandboxError(RuntimeError):
    """The sandbox could not be built, started or stopped; the message says what to look at."""


@dataclass(frozen=True, slots=True)
class SandboxInfo:
    url: str
    database: str
    username: str
    password: str
    pid: int
    port: int
    directory: str

    @property
    def settings(self) -> dict[str, Any]:
        """A Tryton connection's non-secret settings."""
        return {"url": self.url, "database": self.database}

    @property
    def credentials(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}

    def seed(self) -> dict[str, Any]:
        """What the seed created (ids, names, references)."""
        return json.loads((Path(self.directory) / "seed.json").read_text())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- building a database ----------------------------------------------------------------------


def trytond_version() -> str:
    try:
        return metadata.version("trytond")
    except metadata.PackageNotFoundError:
        raise SandboxError(
            "trytond is not installed in this interpreter; install the project's sandbox extra with "
            f"'{sys.executable} -m sandboxes.tryton.sandbox start --install' (or: make venv)"
        ) from None


def sandbox_requirements() -> list[str]:
    """The pinned Tryton packages of the project's ``sandbox`` extra."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        return list(tomllib.load(handle)["project"]["optional-dependencies"]["sandbox"])


def install_trytond() -> None:
    """pip-install the ``sandbox`` extra's packages into the running interpreter (constraints.txt applies)."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    constraints = REPO_ROOT / "constraints.txt"
    if constraints.exists():
        command += ["-c", str(constraints)]
    result = subprocess.run([*command, *sandbox_requirements()], check=False, timeout=600)
    if result.returncode != 0:
        raise SandboxError(f"installing the sandbox extra failed (pip exit {result.returncode})")


def _write_config(directory: Path, port: int | None) -> Path:
    (directory / "db").mkdir(parents=True, exist_ok=True)
    lines = [
        "[database]",
        "uri = sqlite://",
        f"path = {directory / 'db'}",
        "language = en",
    ]
    if port is not None:
        lines += ["", "[web]", f"listen = {HOST}:{port}"]
    conf = directory / "trytond.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def _run(cmd: list[str], *, log: Path, timeout: float, env: dict[str, str] | None = None, what: str) -> None:
    with log.open("ab") as out:
        try:
            result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise SandboxError(f"{what} did not finish within {timeout:.0f} s; see {log}") from None
    if result.returncode != 0:
        raise SandboxError(f"{what} failed (exit {result.returncode}):\n{_tail(log)}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


def build_database(directory: Path, *, timeout: float = 300.0) -> None:
    """Initialize ``DIR/db/sync_demo.sqlite`` with account_invoice and seed it (``DIR/seed.json``)."""
    trytond_version()
    directory.mkdir(parents=True, exist_ok=True)
    conf = _write_config(directory, None)
    db_file = directory / "db" / DB_FILE
    db_file.unlink(missing_ok=True)
    db_file.touch()
    log = directory / "build.log"
    passfile = directory / "adminpass"
    fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(PASSWORD + "\n")
    try:
        _run(
            [sys.executable, "-c", _ADMIN_CODE, "-c", str(conf), "-d", DATABASE, "--email", EMAIL,
             "-u", "account_invoice", "--activate-dependencies"],
            log=log, timeout=timeout, env={**os.environ, "TRYTONPASSFILE": str(passfile)},
            what="trytond-admin (database init)",
        )
    finally:
        passfile.unlink(missing_ok=True)
    _run(
        [sys.executable, str(Path(__file__).with_name("seed.py")), "--config", str(conf), "--database", DATABASE,
         "--output", str(directory / "seed.json")],
        log=log, timeout=timeout, what="seed",
    )
    with contextlib.closing(sqlite3.connect(db_file)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def prepare_template(directory: Path | str) -> Path:
    """Build a template (prepared database + seed.json) in ``directory`` unless one is there.

    Built next to it and renamed into place, so concurrent callers never see half a template.
    """
    directory = Path(directory).resolve()
    if (directory / "template.json").exists():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f"{directory.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    started = time.monotonic()
    build_database(staging)
    (staging / "template.json").write_text(
        json.dumps(
            {"trytond": trytond_version(), "built": dt.datetime.now(dt.UTC).isoformat(),
             "seconds": round(time.monotonic() - started, 1)}
        )
    )
    try:
        staging.rename(directory)
    except OSError:
        if not (directory / "template.json").exists():
            raise
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def cached_template(cache_root: Path | str | None = None) -> Path:
    """The shared template under ``.booksync/cache``, built if this version/source/day has none."""
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    key = f"trytond-{trytond_version()}-{digest.hexdigest()[:10]}-{dt.date.today().isoformat()}"
    root = Path(cache_root) if cache_root else REPO_ROOT / ".booksync" / "cache"
    template = prepare_template(root / key)
    _prune(root, keep=template)
    return template


def _prune(root: Path, *, keep: Path) -> None:
    """Drop other templates from earlier days or over an hour old, and abandoned half-built ones."""
    today = dt.date.today().isoformat()
    for other in root.glob("trytond-*"):
        with contextlib.suppress(OSError):
            old = time.time() - other.stat().st_mtime > 3600
            building = ".building-" in other.name
            if other != keep and (old or (not building and not other.name.endswith(today))):
                shutil.rmtree(other, ignore_errors=True)


# -- running a server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _is_our_server(pid: int, directory: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _alive(pid)
    return any(b"trytond" in part for part in cmdline) and str(directory / "trytond.conf").encode() in cmdline


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


def _wait(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _login(url: str, client: httpx.Client) -> bool:
    body = {"id": 1, "method": "common.db.login", "params": [USERNAME, {"password": PASSWORD}, "en"]}
    try:
        response = client.post(f"{url}/{DATABASE}/rpc/", json=body)
    except httpx.TransportError:
        return False
    return response.status_code == 200 and "result" in response.json()


def _launch(directory: Path, port: int, timeout: float) -> SandboxInfo:
    conf = _write_config(directory, port)
    log_path = directory / "trytond.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVER_CODE, "-c", str(conf), "-d", DATABASE],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    _children[process.pid] = process
    (directory / "trytond.pid").write_text(f"{process.pid}\n")
    url = f"http://{HOST}:{port}"
    with httpx.Client(timeout=httpx.Timeout(5.0, connect=1.0)) as client:

        def ready() -> bool:
            if process.poll() is not None:
                return True
            try:
                response = client.post(f"{url}/rpc/", json={"id": 0, "method": "common.server.version", "params": []})
            except httpx.TransportError:
                return False
            return response.status_code == 200

        if not _wait(ready, timeout) or process.poll() is not None or not _login(url, client):
            _terminate(process.pid, 5.0)
            (directory / "trytond.pid").unlink(missing_ok=True)
            raise SandboxError(f"trytond did not start serving on {url} within {timeout:.0f} s:\n{_tail(log_path)}")
    info = SandboxInfo(url, DATABASE, USERNAME, PASSWORD, process.pid, port, str(directory))
    path = directory / "sandbox.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(info.to_dict(), handle, indent=2)
    return info


def start_sandbox(
    directory: Path | str = DEFAULT_DIR,
    port: int | None = None,
    template: Path | str | None = None,
    *,
    timeout: float = 60.0,
) -> SandboxInfo:
    """Start (or return the already running) sandbox in ``directory``.

    With ``template``, its prepared database is copied in (the template is built first if it is
    missing); without, an existing database in ``directory`` is reused, or one is built.
    """
    directory = Path(directory).resolve()
    running = sandbox_status(directory)
    if running is not None:
        return running
    directory.mkdir(parents=True, exist_ok=True)
    if template is not None:
        source = prepare_template(template)
        (directory / "db").mkdir(exist_ok=True)
        for stale in ("-wal", "-shm"):
            (directory / "db" / f"{DB_FILE}{stale}").unlink(missing_ok=True)
        shutil.copyfile(source / "db" / DB_FILE, directory / "db" / DB_FILE)
        shutil.copyfile(source / "seed.json", directory / "seed.json")
    elif not ((directory / "db" / DB_FILE).exists() and (directory / "seed.json").exists()):
        build_database(directory)
    attempts = 1 if port is not None else 3
    for attempt in range(attempts):
        try:
            return _launch(directory, port if port is not None else free_port(), timeout)
        except SandboxError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def sandbox_status(directory: Path | str = DEFAULT_DIR) -> SandboxInfo | None:
    """The running sandbox in ``directory``, or None."""
    directory = Path(directory).resolve()
    try:
        data = json.loads((directory / "sandbox.json").read_text())
        pid = int((directory / "trytond.pid").read_text())
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
    """Stop the server started in ``directory``: SIGTERM, then SIGKILL after ``timeout``.

    Returns whether a server was running. The database stays; ``start`` reuses it.
    """
    directory = Path(directory).resolve()
    pid_file = directory / "trytond.pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return False
    was_running = _alive(pid) and _is_our_server(pid, directory)
    if was_running:
        _terminate(pid, timeout)
        if _alive(pid):
            raise SandboxError(f"trytond (pid {pid}) is still running after SIGKILL")
    pid_file.unlink(missing_ok=True)
    (directory / "sandbox.json").unlink(missing_ok=True)
    return was_running


@contextlib.contextmanager
def running_sandbox(
    directory: Path | str, *, template: Path | str | None = None, timeout: float = 60.0
) -> Iterator[SandboxInfo]:
    info = start_sandbox(directory, template=template, timeout=timeout)
    try:
        yield info
    finally:
        stop_sandbox(directory)


# -- command line -------------------------------------------------------------------------------


def _describe(info: SandboxInfo) -> str:
    return "\n".join(
        [
            f"Tryton {trytond_version()} sandbox is serving (pid {info.pid}, logs in {info.directory}/trytond.log)",
            "A connection needs:",
            "  platform  tryton",
            f"  url       {info.url}",
            f"  database  {info.database}",
            f"  username  {info.username}",
            f"  password  {info.password}",
            f"Stop it with: {sys.executable} -m sandboxes.tryton.sandbox stop --dir {info.directory}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.tryton.sandbox", description="A local Tryton server.")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="build if needed, start, print the credentials")
    start.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    start.add_argument("--port", type=int)
    start.add_argument("--template", "--from-template", dest="template", type=Path,
                       help="copy the database prepared in this directory (prepared first if missing)")
    start.add_argument("--cached-template", action="store_true", help="use the shared template in .booksync/cache")
    start.add_argument("--timeout", type=float, default=60.0)
    start.add_argument("--install", action="store_true", help="pip-install the sandbox extra first if trytond is missing")
    start.add_argument("--json", action="store_true")
    for name, text in (("stop", "stop the server by its pid"), ("status", "is it running?")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--dir", type=Path, default=DEFAULT_DIR)
        sub.add_argument("--json", action="store_true")
    prepare = commands.add_parser("prepare-template", help="build a template database once")
    prepare.add_argument("dir", type=Path)
    args = parser.parse_args(argv)

    try:
        if args.command == "start":
            started = time.monotonic()
            if args.install and importlib.util.find_spec("trytond") is None:
                install_trytond()
            template = cached_template() if args.cached_template else args.template
            info = start_sandbox(args.dir, port=args.port, template=template, timeout=args.timeout)
            elapsed = time.monotonic() - started
            if args.json:
                print(json.dumps({**info.to_dict(), "seconds": round(elapsed, 2)}))
            else:
                print(_describe(info) + f"\n(ready in {elapsed:.1f} s)")
        elif args.command == "stop":
            stopped = stop_sandbox(args.dir)
            print(json.dumps({"stopped": stopped}) if args.json else ("stopped" if stopped else "not running"))
        elif args.command == "status":
            status = sandbox_status(args.dir)
            if args.json:
                print(json.dumps(status.to_dict() if status else None))
            else:
                print(_describe(status) if status else "not running")
            return 0 if status else 3
        else:
            print(prepare_template(args.dir))
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
