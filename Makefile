# The two commands a new user needs: `make run` (set up and start the app) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)

# FER2013 beside the checkout (as CI has it) unless the caller points elsewhere.
FER2013_ZIP ?= $(wildcard $(CURDIR)/../shared/data/fer2013.zip)
export FER2013_ZIP
# The FER+ raters' votes for that archive, imported beside its labels.
FERPLUS_VOTES ?= $(wildcard $(CURDIR)/../shared/data/ferplus/ferplus_votes.csv)
export FERPLUS_VOTES

.PHONY: install run test migrate clean browsers postgresql faketime

$(INSTALLED): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

install: $(INSTALLED)

migrate: install
	$(PY) manage.py migrate --noinput

run: install
	$(PY) manage.py runstack

# Debian's Chromium for the browser tests (Playwright drives it; `playwright install` cannot download here).
browsers:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Chromium is missing: run 'sudo apt-get install chromium' for the browser tests"; fi; }

# Debian's PostgreSQL for the database tests' second pass; the test run starts a server of its own from it
# (initdb in a temporary folder, a free port) and removes it afterwards.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	  else echo "PostgreSQL is missing: run 'sudo apt-get install postgresql' for the database tests"; fi; }

# Debian's faketime for the hosts tests (tests/hosts), which put one host's clock minutes off.
faketime:
	@command -v faketime >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime; \
	  else echo "faketime is missing: run 'sudo apt-get install faketime' for the hosts tests"; fi; }

# The whole suite on SQLite (the embedded default), then the database-facing tests again on PostgreSQL.
test: install browsers postgresql faketime
	$(PY) -m pytest
	$(PY) -m pytest -m database --database=postgresql

clean:
	rm -rf $(VENV) var/test-cache
