"""``api``: the HTTP API under uvicorn, on the configured host and port."""

from __future__ import annotations

from typing import Annotated

import typer


def api(
    host: Annotated[str | None, typer.Option(help="Listen on this address (default: BOOKSYNC_API_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Listen on this port (default: BOOKSYNC_API_PORT).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
) -> None:
    """Run the HTTP API (uvicorn api.app:app). Logs go through booksync's structured logging."""
    import uvicorn

    from config import get_settings
    from config.logging import configure_logging

    settings = get_settings()
    configure_logging()
    uvicorn.run(
        "api.app:app",
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=20,
    )
