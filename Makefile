# The two commands the README promises: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE := dist/idgate-image-$(VERSION).tar
IMAGE_INPUTS := pyproject.toml setup.py README.md $(shell find src deploy/image -type f ! -path '*/__pycache__/*')

.PHONY: install run test test-interpreted interpreted-src bench-compiled-ab lint system-deps clean bench bench-soak image

# The request path is compiled with mypyc (setup.py; [tool.idgate.mypyc] in pyproject.toml says which
# modules). The build depends on every source, not only the compiled ones: mypyc copies the value of a
# `Final` constant into the compiled code wherever it is defined (and uses the types of what it calls).
SOURCES := $(shell find src/idgate -name '*.py' ! -path '*/__pycache__/*')
COMPILED_STAMP := $(VENV)/.compiled

install: $(COMPILED_STAMP)

# The venv, idgate's dependencies and the editable link to src/ (pure: the extensions come next).
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'setuptools>=77'
	IDGATE_PURE=1 $(BIN)/python -m pip install --quiet --no-build-isolation -e '.[test]'
	touch $(STAMP)

# mypy types the compiled modules with the venv's dependencies, mypyc writes C under build/, and the
# extension modules land beside their sources in src/ (gitignored), where the editable install and
# PYTHONPATH=src both import them. An edit rebuilds here (only the mypy pass when the C is unchanged), so
# `make run/test/bench/image` never run a stale build; the touch makes them newer than their sources even when the C did not change
# (tests/unit/test_build.py fails on an older one).
# The old ones are removed first: a new file, never one rewritten under a running idgate that mapped it.
$(COMPILED_STAMP): $(STAMP) $(SOURCES)
	find src -name '*.so' -delete
	$(BIN)/python setup.py --quiet build_ext --inplace
	find src -name '*.so' -exec touch {} +
	touch $(COMPILED_STAMP)

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

# Everything against the compiled build (IDGATE_COMPILED=1: tests/unit/test_build.py fails if the build fell
# back to Python), then the edge's tests once more interpreted, so the pure-Python fallback stays true.
test: install system-deps $(NPM_STAMP) image
	IDGATE_COMPILED=1 $(BIN)/python -m pytest
	$(MAKE) test-interpreted

# The same sources without the extension modules: a copy of src/ without the .so files. The interpreted
# row of an A/B: `make interpreted-src && make bench BENCH_ARGS="--idgate-src build/interpreted/src"`.
INTERPRETED_SRC := build/interpreted/src
interpreted-src: install
	rm -rf build/interpreted && mkdir -p build/interpreted
	cp -r src $(INTERPRETED_SRC) && find build/interpreted -name '*.so' -delete

# The edge's tests interpreted: the copy comes first on the path (IDGATE_COMPILED=0: tests/unit/test_build.py
# checks that nothing compiled was imported).
test-interpreted: interpreted-src
	IDGATE_COMPILED=0 PYTHONPATH=$(INTERPRETED_SRC) $(BIN)/python -m pytest -q tests/unit/edge tests/unit/test_build.py \
	  --deselect tests/unit/test_build.py::test_no_compiled_module_is_older_than_its_source

lint: install
	$(BIN)/ruff check src tests deploy setup.py
	$(BIN)/ruff format --check src tests deploy setup.py
	$(BIN)/mypy --strict src setup.py
	$(BIN)/mypy --strict --explicit-package-bases deploy/image

# Benchmarks against nginx, Apache + mod_auth_openidc and oidc-provider (not part of `make test`); they
# install wrk, nginx, apache2 and libapache2-mod-auth-openidc when missing. Writes bench/RESULTS.md;
# BENCH_ARGS passes options (e.g. --quick, --only proxy, --note "..."): see bench/README.md.
bench: install $(NPM_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Interpreted (A) vs compiled (B), in-process, no sockets (bench/edge_ab.py): the gate opening a session,
# memo hit and miss, and whole exchanges through a real edge connection (forwarded, 302, 401, 403,
# /oauth/auth); BENCH_ARGS e.g. "--cases forward,gate-hit --rounds 9".
bench-compiled-ab: interpreted-src
	$(BIN)/python -m bench.edge_ab $(INTERPRETED_SRC) src $(BENCH_ARGS)

# 10 minutes at 80 % of the maximum: errors must be 0, RSS flat (bench/SOAK.md).
bench-soak: install
	$(BIN)/python -m bench --soak $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
	find src -name '*.so' -delete
