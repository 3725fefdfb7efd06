# make test: unit tests, every notebook in quick mode (nbval), quick book build with -W.
# make book: the whole book at full scale into _build/html.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NBVAL_IGNORE := --ignore-glob='*/_build/*' --ignore-glob='.venv/*'

.PHONY: test unit notebooks book-quick book check-site bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[vision,dev,book]"
	touch $(STAMP)

test: $(STAMP) unit notebooks book-quick

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests --ignore=tests/test_site.py

notebooks: $(STAMP)
	WORMHOLE_QUICK=1 $(BIN)/python -m pytest -q --nbval-lax $(NBVAL_IGNORE) -p no:cacheprovider notebooks

book-quick: $(STAMP)
	rm -rf _build/quick _build/metrics-quick
	$(BIN)/python tools/build_book.py --quick
	WORMHOLE_SITE=_build/quick/_build/html $(BIN)/python -m pytest -q tests/test_site.py

book: $(STAMP)
	$(BIN)/python tools/build_book.py
	WORMHOLE_SITE=_build/html $(BIN)/python -m pytest -q tests/test_site.py

check-site: $(STAMP)
	WORMHOLE_SITE=_build/html $(BIN)/python -m pytest -q tests/test_site.py

bench: $(STAMP)
	$(BIN)/python benchmarks/meta_step.py

clean:
	rm -rf _build
