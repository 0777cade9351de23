"""Shared by the deploy tests: the three input files, schema validation, and golden files.

Golden files live in ``tests/golden/``. When a render changes on purpose, rewrite them with::

    IDGATE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/deploy

and review the diff (``git diff tests/golden``) like any other change.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from idgate.config import Config, load_config

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = ROOT / "tests" / "golden"
KKP_EXAMPLE = ROOT / "tests" / "fixtures" / "kkp-values.yaml"
# The §6 example has no idgate section: two Dex replicas on the default SQLite are refused, so the
# example is rendered with a PostgreSQL URL, as a real installation must give.
KKP_STORAGE = "idgate.storage=postgresql://idgate@postgres.idgate.svc.cluster.local:5432/idgate"
KUBERNETES_VERSION = "1.31.0"  # the schemas kubernetes-validate ships for this release (offline)
CRD_GROUPS = ("cert-manager.io/",)

INPUTS: dict[str, tuple[Path, tuple[str, ...]]] = {
    "kkp-example": (KKP_EXAMPLE, (KKP_STORAGE,)),
    "minimal": (FIXTURES / "minimal.yaml", ()),
    "maximal": (FIXTURES / "maximal.yaml", ()),
}


def load(name: str) -> Config:
    path, sets = INPUTS[name]
    return load_config(path, sets=sets, env={})


def validate(obj: dict[str, Any]) -> None:
    """Validate against the pinned Kubernetes OpenAPI schemas (strict: unknown fields are errors).

    cert-manager's ``Certificate`` is a CustomResourceDefinition: its schema is not part of Kubernetes,
    so it is deliberately not validated here; its shape is pinned by the golden files instead.
    """
    if obj["apiVersion"].startswith(CRD_GROUPS):
        return
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def by_kind(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}


def secret_env(obj: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in obj.get("data", {}).items()}


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with ``tests/golden/<name>``; rewrite it when IDGATE_UPDATE_GOLDEN=1."""
    path = GOLDEN / name
    if os.environ.get("IDGATE_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with IDGATE_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} changed: review, then run with IDGATE_UPDATE_GOLDEN=1"


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]
