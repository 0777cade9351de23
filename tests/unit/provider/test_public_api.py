"""The names and signatures the runtime (``idgate.runtime``) relies on; changing them breaks it."""

from __future__ import annotations

import inspect

import idgate.storage
from idgate.provider.web.app import build_provider_app
from idgate.storage.base import Storage


def test_open_storage_and_build_provider_app_keep_their_signatures() -> None:
    assert inspect.iscoroutinefunction(idgate.storage.open_storage)
    params = inspect.signature(idgate.storage.open_storage).parameters
    assert list(params) == ["url", "pool_size"]
    assert params["pool_size"].kind is inspect.Parameter.KEYWORD_ONLY
    build = inspect.signature(build_provider_app).parameters
    assert list(build) == ["settings", "storage", "clock", "http"]
    assert build["http"].kind is inspect.Parameter.KEYWORD_ONLY


def test_storage_protocol_methods() -> None:
    methods = {
        "create",
        "get",
        "list",
        "update",
        "delete",
        "find",
        "delete_where",
        "garbage_collect",
        "close",
    }
    assert methods <= set(dir(Storage))
    assert set(idgate.storage.__all__) >= {"Storage", "open_storage", "StaticStorage", "secret_id"}
