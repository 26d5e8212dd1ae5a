# The two commands a new user needs: `make run` (set up and start the app) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)

# FER2013 beside the checkout (as CI has it) unless the caller points elsewhere.
FER2013_ZIP ?= $(wildcard $(CURDIR)/../shared/data/fer2013.zip)
export FER2013_ZIP

.PHONY: install run test migrate clean browsers

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

test: install browsers
	$(PY) -m pytest

clean:
	rm -rf $(VENV) var/test-cache
