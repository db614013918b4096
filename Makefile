# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test system-deps lock bench-quick clean docs

NODE_STAMP := node_modules/.installed

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# axe-core, pinned in package-lock.json, for the browser tests' accessibility check (tests only).
$(NODE_STAMP): package-lock.json | system-deps
	npm ci --omit=dev --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# Debian packages the tests use for real: Chromium (browser tests), redis-server (state store),
# Node.js and npm (axe-core), CJK fonts (readable screenshots).
SYSTEM_PACKAGES := chromium redis-server nodejs npm fonts-noto-cjk
system-deps:
	@command -v chromium >/dev/null && command -v redis-server >/dev/null && command -v npm >/dev/null \
	  && fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; }

demo: $(STAMP)
	$(BIN)/riskcard demo

test: $(STAMP) system-deps $(NODE_STAMP)
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
