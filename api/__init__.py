"""The HTTP API (FastAPI): ``uvicorn api.app:app``. Plain functions others call: ``api.keys``, ``api.intake``."""
