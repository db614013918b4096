# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
# make demo PORT=8001 serves the demo on another port
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test system-deps lock bench-quick clean docs vendor-leaflet

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
# Only what is missing is installed: a machine whose Node.js did not come from Debian keeps it
# (asking apt for nodejs/npm there fails on conflicting packages).
system-deps:
	@need=""; \
	command -v chromium >/dev/null || need="$$need chromium"; \
	command -v redis-server >/dev/null || need="$$need redis-server"; \
	command -v nginx >/dev/null || need="$$need nginx"; \
	command -v wrk >/dev/null || need="$$need wrk"; \
	command -v ip >/dev/null || need="$$need iproute2"; \
	command -v curl >/dev/null || need="$$need curl"; \
	command -v npm >/dev/null || need="$$need nodejs npm"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need="$$need fonts-noto-cjk fontconfig"; \
	if [ -n "$$need" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian packages:$$need"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$need >/dev/null; \
	fi

# Leaflet, pinned in package-lock.json, copied into static/leaflet/ (committed; a test checks the copy is current).
vendor-leaflet: $(NODE_STAMP)
	mkdir -p static/leaflet
	cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css static/leaflet/
	cp node_modules/leaflet/LICENSE static/leaflet/LICENSE

demo: $(STAMP)
	$(BIN)/riskcard demo --port $(PORT)

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
