"""``shell``: Python with the Celery app, the tasks, the models and a database session ready."""

from __future__ import annotations

import code
from typing import Annotated, Any

import typer

BANNER = """booksync shell ({database}, broker {broker})
  app / celery   the Celery app       app.send_task("tasks.sync_connection", args=[id, "manual"])
  tasks          the tasks module     tasks.sync_connection.delay(id, "manual")
  session        a database session   session.scalars(select(AccountingConnection)).all(); session.commit() to save
  models         every model class    {models}
  settings, select, func, uuid"""


def namespace() -> dict[str, Any]:
    import uuid

    from sqlalchemy import func, select

    import models
    import tasks
    from config import get_settings
    from models.db import get_sessionmaker
    from worker import app as celery_app

    ns: dict[str, Any] = {name: getattr(models, name) for name in models.__all__}
    ns.update(
        app=celery_app, celery=celery_app, tasks=tasks, models=models, session=get_sessionmaker()(),
        settings=get_settings(), select=select, func=func, uuid=uuid,
    )
    return ns


def banner(ns: dict[str, Any]) -> str:
    from sqlalchemy.engine import make_url

    from config.logging import redact_text

    settings = ns["settings"]
    model_names = sorted(name for name in ns["models"].__all__ if name[0].isupper() and isinstance(ns[name], type))
    return BANNER.format(
        database=make_url(settings.resolved_database_url).render_as_string(hide_password=True),
        broker=redact_text(settings.resolved_broker_url),
        models=", ".join(model_names),
    )


def _interact(ns: dict[str, Any], text: str) -> None:
    try:
        from IPython import start_ipython
    except ImportError:
        pass
    else:
        start_ipython(argv=[], user_ns=ns, banner1=text + "\n")  # type: ignore[no-untyped-call]
        return
    try:
        import readline
        import rlcompleter

        readline.set_completer(rlcompleter.Completer(ns).complete)
        readline.parse_and_bind("tab: complete")
    except ImportError:
        pass
    code.interact(banner=text, local=ns, exitmsg="")


def shell(
    command: Annotated[
        str | None, typer.Option("-c", "--command", help="Run this Python code in the shell's namespace and exit.")
    ] = None,
) -> None:
    """A Python shell with the Celery app, the tasks, the models and a session, like ``flask shell``."""
    ns = namespace()
    try:
        if command is not None:
            exec(compile(command, "<booksync shell -c>", "exec"), ns)
        else:
            _interact(ns, banner(ns))
    finally:
        ns["session"].close()
