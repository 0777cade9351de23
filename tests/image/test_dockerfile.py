"""`deploy/Dockerfile` describes the image `make image` builds: its build stage runs the same recipe, and
its final stage sets what the archive's config says. (No container engine runs here to build it.)"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from idgate import __version__

DOCKERFILE = Path(__file__).resolve().parents[2] / "deploy" / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip().removesuffix("\\") + " " if line.rstrip().endswith("\\") else line.strip()
        if not line.rstrip().endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
            pending = ""
    return found


def final_stage() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    steps = instructions(DOCKERFILE.read_text())
    scratch = steps.index(("FROM", "scratch"))
    return steps[:scratch], steps[scratch:]


def pairs(arguments: str, args: dict[str, str]) -> dict[str, str]:
    found = {}
    for word in shlex.split(arguments):
        key, _, value = word.partition("=")
        for name, default in args.items():
            value = value.replace("${" + name + "}", default)
        found[key] = value
    return found


def test_the_build_stage_runs_the_recipe_make_image_runs() -> None:
    build, _ = final_stage()
    assert build[0] == ("FROM", "debian:bookworm-slim AS build")
    assert ("COPY", "deploy/image ./deploy/image") in build
    assert ("RUN", "/build/bin/python -m deploy.image rootfs /rootfs") in build
    installed = next(rest for word, rest in build if word == "RUN" and "apt-get install" in rest)
    assert {"mmdebstrap", "python3", "python3-pip", "binutils", "gcc", "python3-dev"} <= {*installed.split()}
    # mypyc compiles the wheel's request path: setup.py, and a venv with what mypy needs to type it
    assert ("COPY", "pyproject.toml setup.py README.md ./") in build
    venv = next(rest for word, rest in build if word == "RUN" and "venv /build" in rest)
    assert {"mypy", "types-PyYAML", "types-ldap3", "."} <= set(venv.split())


def test_the_final_stage_says_what_the_archive_config_says(image_config: dict[str, Any]) -> None:
    _, final = final_stage()
    run = image_config["config"]
    args = {k: v for word, rest in final if word == "ARG" for k, _, v in [rest.partition("=")]}
    assert args == {"VERSION": __version__}
    said: dict[str, Any] = {}
    for word, rest in final:
        if word in ("ENV", "LABEL"):
            said.setdefault(word, {}).update(pairs(rest, args))
        elif word in ("ENTRYPOINT", "CMD"):
            said[word] = json.loads(rest)
        elif word != "COPY":
            said[word] = rest
    assert said["USER"] == run["User"]
    assert said["ENV"] == dict(e.split("=", 1) for e in run["Env"])
    assert said["WORKDIR"] == run["WorkingDir"]
    assert {f"{p}/tcp" for p in said["EXPOSE"].split()} == set(run["ExposedPorts"])
    assert said["ENTRYPOINT"] == run["Entrypoint"] and said["CMD"] == run["Cmd"]
    built_only = {"org.opencontainers.image.created", "org.opencontainers.image.revision"}
    assert said["LABEL"] == {k: v for k, v in run["Labels"].items() if k not in built_only}
    assert ("COPY", "--from=build /rootfs /") in final
