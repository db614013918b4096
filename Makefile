# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test system-deps lock bench-quick clean docs

# npm ci: axe-core, pinned in package-lock.json, for the browser tests' accessibility check.
$(STAMP): requirements.lock pyproject.toml package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	npm ci --omit=dev --no-audit --no-fund --loglevel=error
	touch $(STAMP)

# Debian packages the tests use for real: Chromium (browser tests) and redis-server (state store).
system-deps:
	@command -v chromium >/dev/null && command -v redis-server >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium redis-server >/dev/null; }

demo: $(STAMP)
	$(BIN)/riskcard demo

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -n 2 -q

# Regenerate the pinned lock from the current environment (after changing pyproject.toml).
lock:
	$(BIN)/python -m pip freeze --all --exclude-editable | grep -vE "^(riskcard|pip)==" > requirements.lock

bench-quick: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache

# Regenerate docs/cli.md from the commands (tests check it is current).
docs: $(STAMP)
	$(BIN)/python scripts/gen_cli_docs.py
