# One command for the main job, one for the tests; both set up what they need first (idempotent).
#   make run    create .venv, install the lock, npm ci, fetch MNIST, train → export → verify → publish
#   make test   the same setup plus Debian's chromium, then the whole test suite
#   make app    the Streamlit app on http://127.0.0.1:8501;  make serve: the static page on :8000
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: setup browser run test app serve site bench clean

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

app: setup
	$(PY) -m streamlit run web/app.py

site: setup
	$(PY) -m pipeline site --out site

serve: site
	$(PY) -m http.server --bind 127.0.0.1 --directory site 8000

clean:
	rm -rf build site .pytest_cache
