"""The HTTP floor for the API benchmark: a FastAPI app whose routes answer prebuilt bytes.

``GET /floor`` answers the file ``BOOKSYNC_BENCH_FLOOR_GET`` names (a page the real API answered) and
``PUT /floor/{id}`` reads the request's body and answers ``BOOKSYNC_BENCH_FLOOR_PUT``'s bytes (a real
intake answer). Served by uvicorn like the API (``bench.api_list_bench`` starts both), it is what an
answer costs with no database, no validation and no serialization: HTTP, routing and the client.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request, Response

GET_ENV = "BOOKSYNC_BENCH_FLOOR_GET"
PUT_ENV = "BOOKSYNC_BENCH_FLOOR_PUT"


def create_app() -> FastAPI:
    page = Path(os.environ[GET_ENV]).read_bytes()
    written = Path(os.environ[PUT_ENV]).read_bytes()
    app = FastAPI()

    @app.get("/floor")
    def floor_page() -> Response:
        return Response(page, media_type="application/json")

    @app.put("/floor/{item_id}")
    async def floor_write(item_id: str, request: Request) -> Response:
        await request.body()
        return Response(written, status_code=201, media_type="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return app
