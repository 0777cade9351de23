"""``idgate.session_memo_size``: how many verified session cookies each process remembers per deployment
(``bench/`` turns the memo off with ``--set idgate.session_memo_size=0``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.edge.conftest import NOW, alice, proxy_settings, seal

from idgate.config import build_settings, load_config
from idgate.edge.routes import RouteTable
from idgate.errors import ConfigError
from idgate.settings import Settings

EXAMPLE = Path(__file__).parents[2] / "fixtures" / "kkp-values.yaml"


def test_the_key_reaches_the_settings_with_its_default() -> None:
    assert build_settings(load_config(EXAMPLE)).session_memo_size == 10_000
    settings = build_settings(load_config(EXAMPLE, sets=["idgate.session_memo_size=0"]))
    assert settings.session_memo_size == 0


def test_a_negative_size_is_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(EXAMPLE, sets=["idgate.session_memo_size=-1"])
    assert "idgate.session_memo_size" in {p.path for p in exc.value.problems}


@pytest.mark.parametrize(("size", "remembered"), [(10_000, True), (0, False)])
def test_the_route_table_builds_each_gate_with_it(size: int, remembered: bool) -> None:
    settings = Settings(proxies=(proxy_settings("http://127.0.0.1:1"),), session_memo_size=size)
    table = RouteTable.build(settings, provider_socket=None, signin_socket=None)
    routes = table.host(b"app.test")
    assert routes is not None and routes.deployment is not None
    gate = routes.deployment.gate
    sealed = seal(alice())
    first, again = gate.open(sealed, NOW), gate.open(sealed, NOW)
    assert first is not None and again is not None
    assert (first is again) is remembered
