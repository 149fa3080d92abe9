"""deploy/docker-compose.yml passes ``docker-compose config``; its Dockerfile copies what the package needs."""

from __future__ import annotations

import re
import subprocess
import tomllib
from typing import Any

import yaml

from tests.deploy.tools import require_tool
from tests.support.processes import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
REQUIRED = {"POSTGRES_PASSWORD": "pg-pass", "BOOKSYNC_SECRET_KEY": "a-fernet-key", "FLOWER_BASIC_AUTH": "ops:pw"}


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    compose = require_tool("docker-compose", "docker-compose")
    return subprocess.run([compose, "-f", str(DEPLOY / "docker-compose.yml"), "config"],
                          env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=120, cwd=DEPLOY)


def _resolved() -> dict[str, Any]:
    result = _config(REQUIRED)
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def test_docker_compose_accepts_the_file() -> None:
    services = _resolved()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker", "beat", "flower"}


def test_the_secrets_must_be_given() -> None:
    for missing in REQUIRED:
        result = _config({k: v for k, v in REQUIRED.items() if k != missing})
        assert result.returncode != 0
        assert missing in result.stderr


def test_one_beat_scalable_workers_with_a_soft_shutdown_and_flower_behind_basic_auth() -> None:
    services = _resolved()["services"]
    assert services["beat"]["deploy"]["replicas"] == 1
    assert "deploy" not in services["worker"] and "container_name" not in services["worker"]
    assert services["worker"]["environment"]["REMAP_SIGTERM"] == "SIGQUIT"
    assert services["worker"]["stop_signal"] == "SIGTERM"
    assert services["worker"]["stop_grace_period"] in {"1m30s", "90s"}
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "ops:pw"
    assert services["flower"]["command"][:4] == ["celery", "-A", "worker", "flower"]
    assert services["migrate"]["command"] == ["booksync", "db", "upgrade"]
    for name in ("api", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["environment"]["BOOKSYNC_BROKER_URL"] == "redis://redis:6379/0"
    assert services["migrate"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_the_dockerfile_copies_every_package_the_project_installs() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = [source for line in re.findall(r"^COPY (.+)$", dockerfile, re.MULTILINE) for source in line.split()[:-1]]
    missing = [source for source in copied if not (PROJECT_ROOT / source).exists()]
    assert missing == [], f"the Dockerfile copies what the repository lacks: {missing}"
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= set(copied)
    assert "USER 10001" in dockerfile
