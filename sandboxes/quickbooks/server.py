"""The sandbox's server process: ``python -m sandboxes.quickbooks.server --dir DIR --port PORT``.

It reads ``DIR/config.json`` (written by ``sandbox.start_sandbox``), logs JSON lines to stderr (the launcher
sends them to ``DIR/quickbooks.log``) and serves with uvicorn on 127.0.0.1, one event loop: many calls are
in flight at once (each waits on its own I/O or injected latency), while each call's read-check-write on
the SQLite state runs without interleaving.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import uvicorn

from config.logging import configure_logging
from sandboxes.quickbooks.app import SandboxConfig, create_app

HOST = "127.0.0.1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.quickbooks.server")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    configure_logging("json", "INFO")
    config = SandboxConfig.from_json({**json.loads((args.dir / "config.json").read_text()), "directory": str(args.dir)})
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=args.port, log_config=None, access_log=False,
                                           lifespan="off", timeout_keep_alive=30, backlog=2048))
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
