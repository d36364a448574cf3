# One command for the main job, one for the tests; both set up what they need first (idempotent).
#   make run    create .venv, install the lock, npm ci, fetch MNIST, train → export → verify → publish
#   make test   the same setup plus Debian's chromium, then the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: setup browser run test serve site clean

$(VENV)/.installed: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed

# Debian's chromium for the browser tests (Playwright cannot download its own browser here).
browser:
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }

run: setup
	$(PY) -m pipeline run

test: setup browser
	$(PY) -m pytest

site: setup
	$(PY) -m pipeline site --out site

serve: site
	$(PY) -m http.server --bind 127.0.0.1 --directory site 8000

clean:
	rm -rf build site .pytest_cache
