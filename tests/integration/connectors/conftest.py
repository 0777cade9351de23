"""Fixtures for the connector integration tests: a real slapd (fails loudly when it cannot start)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.integration.connectors.slapd import Slapd, start_slapd, stop_slapd


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    try:
        server = start_slapd(tmp_path_factory.mktemp("slapd"))
    except Exception as exc:
        pytest.fail(f"cannot start slapd: {exc}", pytrace=False)
    yield server
    stop_slapd(server)


@pytest.fixture(scope="session")
def slapd_mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A second slapd that demands a client certificate on every TLS connection (``TLSVerifyClient``)."""
    try:
        server = start_slapd(tmp_path_factory.mktemp("slapd-mtls"), verify_client=True)
    except Exception as exc:
        pytest.fail(f"cannot start slapd: {exc}", pytrace=False)
    yield server
    stop_slapd(server)
