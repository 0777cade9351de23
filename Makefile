# The two commands the README promises: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.PHONY: install run test lint system-deps clean bench bench-soak

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

test: install system-deps $(NPM_STAMP)
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy --strict src

# Benchmarks against nginx, Apache + mod_auth_openidc and oidc-provider (not part of `make test`); they
# install wrk, nginx, apache2 and libapache2-mod-auth-openidc when missing. Writes bench/RESULTS.md;
# BENCH_ARGS passes options (e.g. --quick, --only proxy, --note "..."): see bench/README.md.
bench: install $(NPM_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# 10 minutes at 80 % of the maximum: errors must be 0, RSS flat (bench/SOAK.md).
bench-soak: install
	$(BIN)/python -m bench --soak $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
