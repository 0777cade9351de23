"""What the rendered-pods test deploys: a values file with the provider (a local user), two proxy
deployments, PostgreSQL storage and Redis sessions, rendered with ``idgate render kubernetes``.

Inside the pods' network, PostgreSQL, Redis and the upstream have cluster names on the host end of the
bridge (:data:`POSTGRES`, :data:`REDIS`, :data:`UPSTREAM`), relayed to where they listen on this machine.
The storage and session URLs (the PostgreSQL password with them) reach the pods the way the render sends
every secret: in the Secret, loaded with ``envFrom``, and ``${VAR}`` in the ConfigMap's ``values.yaml``.
Deployment names carry a per-run suffix, so the Redis keys (``idgate:<name>:*``) are this run's only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from tests.e2e.harness import EMAIL

__all__ = ["PROVIDER_HOST", "render", "values"]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kkp-values.yaml"
PROVIDER_HOST = "kkp.pods.test"
POSTGRES = "postgres.db.svc.cluster.local"
REDIS = "redis.db.svc.cluster.local"
UPSTREAM = "upstream.monitoring.svc.cluster.local"
UPSTREAM_PORT = 8080
REDIS_DB = 11  # this test's Redis database (others: 0, 12, 14, 15)
PG_PASSWORD = "pods-test-password"  # PostgreSQL trusts 127.0.0.1 here; the password only travels


def values(run: str, database: str) -> dict[str, Any]:
    """The values file: ``alpha-<run>`` and ``beta-<run>`` behind the provider at ``kkp.pods.test/dex``."""
    kkp = yaml.safe_load(FIXTURE.read_text())
    user = next(u for u in kkp["dex"]["staticPasswords"] if u["email"] == EMAIL)
    clients, deployments = [], {}
    for key in ("alpha", "beta"):
        name = f"{key}-{run}"
        secret = os.urandom(16).hex()
        host = f"{key}.pods.test"
        clients.append(
            {"id": name, "name": key, "secret": secret, "RedirectURIs": [f"http://{host}/oauth/callback"]}
        )
        deployments[key] = {
            "name": name,
            "client_id": name,
            "client_secret": secret,
            "encryption_key": os.urandom(16).hex(),
            "upstream_service": UPSTREAM,
            "upstream_port": UPSTREAM_PORT,
            "ingress": {"host": host},
            "config": {"scope": "openid email groups", "email_domains": ["*"]},
        }
    return {
        "dex": {
            "ingress": {"host": PROVIDER_HOST, "path": "/dex", "scheme": "http"},
            "staticPasswords": [user],
            "clients": clients,
        },
        "iap": {"oidc_issuer_url": f"http://{PROVIDER_HOST}/dex", "deployments": deployments},
        "idgate": {
            "storage": f"postgresql://postgres:{PG_PASSWORD}@{POSTGRES}:5432/{database}",
            "sessions": f"redis://{REDIS}:6379/{REDIS_DB}",
        },
    }


def render(config: Path, image: str) -> list[dict[str, Any]]:
    """``idgate render kubernetes --config FILE --image REF``, parsed; fails with the command's stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "idgate", "render", "kubernetes", "--config", str(config), "--image", image],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"idgate render kubernetes failed ({done.returncode}):\n{done.stderr}"
    return [d for d in yaml.safe_load_all(done.stdout) if d]
