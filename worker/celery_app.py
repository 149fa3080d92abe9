from __future__ import annotations

from celery import Celery

from config import get_settings
from worker import broker_fixes
from worker.config import celery_config


def create_app() -> Celery:
    broker_fixes.install()
    app = Celery("booksync", include=["tasks"])
    app.config_from_object(celery_config(get_settings()))
    return app


app = create_app()
