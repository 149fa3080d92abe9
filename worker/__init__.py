"""The Celery application: ``celery -A worker worker|beat|inspect|flower ...``."""

from worker.celery_app import app
from worker import signals as _signals  # noqa: F401  (connects the signal handlers)

celery = app

__all__ = ["app", "celery"]
