"""The Kubernetes manifests pass ``kubernetes-validate --strict`` and encode shutdown, single beat and probes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.processes import PROJECT_ROOT, VENV_BIN

MANIFESTS = PROJECT_ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"
SOFT_SHUTDOWN_SECONDS = 60


def _validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    validator = VENV_BIN / "kubernetes-validate"
    if not validator.exists():
        pytest.fail("kubernetes-validate is not installed; it is in the project's test extra: pip install -e '.[test]'",
                    pytrace=False)
    return subprocess.run([str(validator), "--strict", "-k", KUBERNETES_VERSION, *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def _manifests() -> list[Path]:
    return sorted(p for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")


def _resources() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in _manifests():
        for document in yaml.safe_load_all(path.read_text()):
            found[(document["kind"], document["metadata"]["name"])] = document
    return found


def _container(resource: dict[str, Any]) -> dict[str, Any]:
    [container] = resource["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_every_manifest_validates_against_the_kubernetes_schemas() -> None:
    result = _validate(*_manifests())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARN" not in result.stdout + result.stderr
    assert result.stdout.count("passed") == len(_resources())


def test_the_validator_is_strict(tmp_path: Path) -> None:
    broken = tmp_path / "beat.yaml"
    broken.write_text((MANIFESTS / "beat.yaml").read_text().replace("  replicas: 1", "  replica: 1"))
    assert _validate(broken).returncode != 0


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in _manifests())


def test_the_deployment_has_what_the_design_asks_for() -> None:
    resources = _resources()
    assert set(resources) >= {
        ("Namespace", "booksync"), ("ConfigMap", "booksync"), ("Secret", "booksync"), ("Secret", "booksync-flower"),
        ("Job", "booksync-migrate"), ("Deployment", "booksync-api"), ("Service", "booksync-api"),
        ("Deployment", "booksync-worker"), ("Deployment", "booksync-beat"), ("Deployment", "booksync-flower"),
        ("Service", "booksync-flower"),
    }
    api = resources[("Deployment", "booksync-api")]
    assert _container(api)["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert _container(api)["livenessProbe"]["httpGet"]["path"] == "/healthz"

    worker = resources[("Deployment", "booksync-worker")]
    env = {e["name"]: e.get("value") for e in _container(worker)["env"]}
    assert env["REMAP_SIGTERM"] == "SIGQUIT"
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= SOFT_SHUTDOWN_SECONDS + 15

    beat = resources[("Deployment", "booksync-beat")]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"

    job = resources[("Job", "booksync-migrate")]
    assert _container(job)["command"] == ["booksync", "db", "upgrade"]

    flower = _container(resources[("Deployment", "booksync-flower")])
    assert {"secretRef": {"name": "booksync-flower"}} in flower["envFrom"]
    assert "FLOWER_BASIC_AUTH" in resources[("Secret", "booksync-flower")]["stringData"]
    for name in ("booksync-api", "booksync-worker", "booksync-beat"):
        assert {"secretRef": {"name": "booksync-flower"}} not in _container(resources[("Deployment", name)])["envFrom"]


def test_the_placeholders_are_placeholders() -> None:
    for value in _resources()[("Secret", "booksync")]["stringData"].values():
        assert "CHANGE-ME" in value
