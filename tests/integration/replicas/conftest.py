"""Fixtures for the replica tests: a throwaway PostgreSQL database, the recording upstream."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest
from tests.e2e.conftest import upstream  # noqa: F401 - the recording upstream fixture, shared

ADMIN_URL = os.environ.get("IDGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A fresh database on the real PostgreSQL (dropped afterwards); fails when PostgreSQL is down."""
    name = f"idgate_replicas_{secrets.token_hex(6)}"
    try:
        admin = await asyncpg.connect(ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required at {ADMIN_URL} and is unreachable: {exc}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
