"""``dex.frontend`` and ``dex.theme``: validated at their YAML paths, built into the provider's settings."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from tests.unit.config.conftest import Analyse

from idgate.config.build import build_settings

Problems = Callable[..., list[str]]
SVG = b"<svg xmlns='http://www.w3.org/2000/svg'/>"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_frontend_and_theme_reach_the_provider(analyse: Analyse, example: dict[str, Any]) -> None:
    wrapped = b64(b"\x89PNG" + bytes(100))
    example["dex"]["frontend"] = {
        "issuer": "ACME",
        "logoURL": "theme/logo.svg",
        "dir": "/srv/dex/web",
        "theme": "dark",
    }
    example["dex"]["theme"] = {"logo.svg": b64(SVG), "favicon.png": "\n".join([wrapped[:40], wrapped[40:]])}
    config, problems = analyse(example)
    assert problems == [] and config is not None
    provider = build_settings(config).provider
    assert (provider.display_name, provider.logo_url, provider.web_dir, provider.theme_name) == (
        "ACME",
        "theme/logo.svg",
        "/srv/dex/web",
        "dark",
    )
    assert dict(provider.theme_files) == {"logo.svg": SVG, "favicon.png": b"\x89PNG" + bytes(100)}


def test_an_unset_frontend_shows_no_name(analyse: Analyse, example: dict[str, Any]) -> None:
    example["dex"].pop("frontend", None)
    config, _ = analyse(example)
    assert config is not None
    provider = build_settings(config).provider
    assert (provider.display_name, provider.logo_url, provider.theme_files) == ("", "", ())


def test_invalid_base64_names_the_theme_file(problems: Problems, example: dict[str, Any]) -> None:
    example["dex"]["theme"] = {"logo.svg": "<svg>not base64</svg>", "favicon.png": b64(b"\x89PNG")}
    assert problems(example) == ["dex.theme.logo.svg: expected the file's content in base64"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../logo.svg", "expected a plain file name such as logo.svg"),
        ("img/logo.svg", "expected a plain file name such as logo.svg"),
        (".styles.css", "expected a plain file name such as logo.svg"),
        ("logo.exe", "unsupported file type (expected one of: .svg, .png"),
    ],
)
def test_a_theme_file_name_is_a_plain_name_of_a_known_type(
    problems: Problems, example: dict[str, Any], name: str, message: str
) -> None:
    example["dex"]["theme"] = {name: b64(SVG)}
    [problem] = problems(example)
    assert problem.startswith(f"dex.theme.{name}: {message}")


def test_an_unknown_frontend_key_says_did_you_mean(problems: Problems, example: dict[str, Any]) -> None:
    example["dex"]["frontend"] = {"logoUrl": "x"}
    assert problems(example) == ["dex.frontend.logoUrl: unknown key 'logoUrl'; did you mean 'logoURL'?"]
