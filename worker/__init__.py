"""The Celery application: ``celery -A worker worker|beat|inspect|flower ...``."""

from worker.celery_app import app
from worker import signals as _signals  # noqa: F401  (connects the signal handlers)
from worker import metrics as _metrics  # noqa: F401  (counts what tasks do, for Prometheus)

celery = app

__all__ = ["app", "celery"]
