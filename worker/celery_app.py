from __future__ import annotations

from celery import Celery

from config import get_settings
from worker.config import celery_config


def create_app() -> Celery:
    app = Celery("booksync", include=["tasks"])
    app.config_from_object(celery_config(get_settings()))
    return app


app = create_app()
