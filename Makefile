# The two commands the README promises: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE := dist/idgate-image-$(VERSION).tar
IMAGE_INPUTS := pyproject.toml README.md $(shell find src deploy/image -type f ! -path '*/__pycache__/*')

.PHONY: install run test lint system-deps clean bench bench-soak image

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# openid-client and oidc-provider for tests/interop/, exactly as package-lock.json pins them.
$(NPM_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

# Starts idgate with its embedded demo (no --config): open http://demo.localhost:4180
run: install
	$(BIN)/idgate serve

# Debian packages the tests drive for real (installed only when missing).
system-deps:
	./scripts/system-deps

# idgate's container image as an OCI + Docker archive, without a container engine (root; deploy/image/):
# `docker load`, `podman load`, `kind load image-archive` and `ctr images import` take it (README). The
# Debian base and the dependency wheels are cached in ~/.cache/idgate-image; a source change rebuilds
# only the app layer.
image: $(IMAGE)

$(IMAGE): $(IMAGE_INPUTS) | install system-deps
	$(BIN)/python -m deploy.image archive $@

test: install system-deps $(NPM_STAMP) image
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests deploy
	$(BIN)/ruff format --check src tests deploy
	$(BIN)/mypy --strict src
	$(BIN)/mypy --strict --explicit-package-bases deploy/image

# Benchmarks against nginx, Apache + mod_auth_openidc and oidc-provider (not part of `make test`); they
# install wrk, nginx, apache2 and libapache2-mod-auth-openidc when missing. Writes bench/RESULTS.md;
# BENCH_ARGS passes options (e.g. --quick, --only proxy, --note "..."): see bench/README.md.
bench: install $(NPM_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# 10 minutes at 80 % of the maximum: errors must be 0, RSS flat (bench/SOAK.md).
bench-soak: install
	$(BIN)/python -m bench --soak $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
