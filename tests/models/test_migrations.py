from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from models import Base
from models.db import make_engine
from tests.support.databases import fresh_postgres_database
from tests.support.services import require_postgres

BOOKSYNC = str(Path(sys.executable).parent / "booksync")


def test_migrations_and_models_agree(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_db_upgrade_creates_every_table_in_an_empty_sqlite_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [BOOKSYNC, "db", "upgrade"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "BOOKSYNC_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 0, result.stderr
    assert "is at revision" in result.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'home' / 'booksync.db'}")
    assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    engine.dispose()


def test_db_upgrade_on_an_empty_postgresql_database(tmp_path: Path) -> None:
    with fresh_postgres_database(require_postgres()) as url:
        result = subprocess.run(
            [BOOKSYNC, "db", "upgrade"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
            env={"PATH": "/usr/bin:/bin", "BOOKSYNC_HOME": str(tmp_path), "BOOKSYNC_DATABASE_URL": url},
        )
        assert result.returncode == 0, result.stderr
        assert "is at revision" in result.stdout
        engine = make_engine(url)
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
        engine.dispose()


def test_a_malformed_database_url_fails_with_one_line_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [BOOKSYNC, "db", "upgrade"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "BOOKSYNC_DATABASE_URL": "mysql://nobody@nowhere/x"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "BOOKSYNC_DATABASE_URL" in result.stderr
