# One command for the main job, one for the tests; both set up what they need first (idempotent).
#   make run    create .venv, install the lock, npm ci, fetch MNIST, train → export → verify → publish
#   make test   the same setup plus Debian's chromium, then lint and the whole test suite
#   make test-fast  lint and the tests that need neither Chromium nor a training run (development)
#   make app    the Streamlit app on http://127.0.0.1:8501;  make serve: the static page on :8000
#   make lock   regenerate the hashed locks from requirements.in (tools/lock.py; needs PyPI)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: setup browser run lint test test-fast app serve site bench lock clean

# Every package is pinned with its sha256 (--require-hashes): nothing can be swapped underneath.
# requirements-nodeps.lock: packages whose declared dependencies conflict with the lock (tools/lock.py).
$(VENV)/.installed: requirements.lock requirements-nodeps.lock
	@# a venv made without ensurepip (Debian without python3-venv) has no pip: start it again
	$(PY) -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); } || \
		{ echo "python3 -m venv failed: on Debian, apt-get install python3-venv"; exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements-nodeps.lock
	touch $@

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed

# Debian's chromium for the browser tests (Playwright cannot download its own browser here).
browser:
	@test -x /usr/bin/chromium || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# Signs each published folder when $$MNIST_SIGNING_KEY names a private key; else publishes unsigned
# and says so (a fresh clone has no key; docs/security.md tells how to make one).
run: setup
	$(PY) -m pipeline run

# ruff's lint rules and its formatter (configured in pyproject.toml), and mypy over pipeline/.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Two pytest workers, each taking whole test files (module fixtures such as a served site or a
# Streamlit server stay one per file) in collection order, longest first (tests/conftest.py): the
# suite leaves a core idle half the time when run serially.
# TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
PYTEST_WORKERS := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

test: setup browser lint
	node --test --test-reporter=spec tests/preprocess.test.mjs tests/resize.test.mjs
	$(PY) -m pytest $(PYTEST_WORKERS)

test-fast: setup lint
	node --test --test-reporter=spec tests/preprocess.test.mjs tests/resize.test.mjs
	$(PY) -m pytest $(PYTEST_WORKERS) -m "not browser and not slow"

app: setup
	$(PY) -m streamlit run web/app.py

site: setup
	$(PY) -m pipeline site --out site

serve: site
	$(PY) -m http.server --bind 127.0.0.1 --directory site 8000

bench: setup browser
	$(PY) -m pipeline bench

lock: $(VENV)/.installed
	$(PY) tools/lock.py

clean:
	rm -rf build site .pytest_cache
