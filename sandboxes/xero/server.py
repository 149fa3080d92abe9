"""The local Xero's server process: ``python -m sandboxes.xero.server --dir DIR --port PORT ...``.

``sandboxes.xero.sandbox`` starts it in its own session; it reads its settings from the command line
only (the sandbox is not booksync and reads no ``BOOKSYNC_`` variable), keeps its state in ``DIR`` and
serves with uvicorn (h11, one event loop; handlers run in worker threads, so calls overlap and the
concurrency limit is observable).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import uvicorn

from sandboxes.xero.app import Settings, create_app
from sandboxes.xero.limits import Limits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.xero.server")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tenants", type=int, default=0, help="create tenants until there are this many")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--access-token-seconds", type=float, default=1800.0)
    parser.add_argument("--refresh-grace-seconds", type=float, default=1800.0)
    defaults = Limits()
    for name in ("per_minute", "per_day", "concurrent", "app_per_minute"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name))
    parser.add_argument("--redirect-uri", action="append", dest="redirect_uris")
    args = parser.parse_args(argv)
    secrets_file = args.dir / "app.json"  # client id and secret, written by the sandbox with mode 0600
    app_credentials = json.loads(secrets_file.read_text())
    settings = Settings(
        directory=args.dir, client_id=app_credentials["client_id"], client_secret=app_credentials["client_secret"],
        redirect_uris=args.redirect_uris, access_token_seconds=args.access_token_seconds,
        refresh_grace_seconds=args.refresh_grace_seconds, tenants=args.tenants,
        limits=Limits(per_minute=args.per_minute, per_day=args.per_day, concurrent=args.concurrent,
                      app_per_minute=args.app_per_minute, time_scale=args.time_scale),
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning", access_log=False,
                http="h11", loop="asyncio", lifespan="off", timeout_keep_alive=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
