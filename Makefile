# make test: unit tests, every notebook in quick mode (nbval), quick book build with -W.
# make book: the whole book at full scale into _build/html (chapters two at a time; make book BOOK_JOBS=1: one at a time).
# make book CPU_PATH=avx2: the same build on another floating-point path of torch's CPU kernels (ATEN_CPU_CAPABILITY:
#   default, avx2, avx512), which rounds as another machine would; its verdicts are recorded beside the native build's.
# make publish: push _build/html to the gh-pages branch (ghp-import).
# make verdicts: rewrite the README's verdict table from docs/verdicts/ (what full builds recorded).
# Needs Python >= 3.11 with its venv module (Debian/Ubuntu: apt-get install python3-venv), make
# and git; PYTHON=/path/to/python3.11 picks the interpreter that creates .venv (make check-python).
# The repository URL is set in one place, _config.yml's repository.url; `make book REPOSITORY=URL`
# (or `make repository REPOSITORY=URL`) writes it there and into every notebook's install cell.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSTRAINTS := constraints.txt
SITE_TESTS := tests/test_site.py tests/test_browser.py
REPOSITORY ?=
REMOTE ?= origin
PAGES_BRANCH ?= gh-pages
SITE ?= _build/html
# only a REPOSITORY given on make's command line rewrites the URL (not one from the environment)
NEW_REPOSITORY = $(if $(filter command line,$(origin REPOSITORY)),$(REPOSITORY))
SET_REPOSITORY = $(if $(NEW_REPOSITORY),$(BIN)/python tools/repository.py set "$(NEW_REPOSITORY)")
NBVAL_IGNORE := --ignore-glob='*/_build/*' --ignore-glob='.venv/*'
BOOK_JOBS ?=
BUILD_JOBS = $(if $(BOOK_JOBS),--jobs $(BOOK_JOBS))
CPU_PATH ?=
CPU_ENV = $(if $(CPU_PATH),ATEN_CPU_CAPABILITY=$(CPU_PATH))

.PHONY: test unit notebooks book-quick book check-site check-python screenshots publish repository bench clean verdicts

# Before .venv exists: stop with a clear message on a Python that cannot build the book
# (older than 3.11, or without the venv module and its ensurepip).
define CHECK_PYTHON
version=$$("$(PYTHON)" -c 'import sys; print(*sys.version_info[:2])' 2>/dev/null) \
	|| { echo "make: cannot run $(PYTHON); install Python 3.11 or newer, or run make PYTHON=/path/to/python3.11" >&2; exit 1; }; \
set -- $$version; \
if [ "$${1:-0}" -lt 3 ] || { [ "$${1:-0}" -eq 3 ] && [ "$${2:-0}" -lt 11 ]; }; then \
	echo "make: $(PYTHON) is Python $${1:-?}.$${2:-?}; the book needs Python 3.11 or newer (run make PYTHON=/path/to/python3.11)" >&2; exit 1; fi; \
"$(PYTHON)" -c 'import venv, ensurepip' 2>/dev/null \
	|| { echo "make: $(PYTHON) (Python $${1}.$${2}) has no venv module (or no ensurepip): on Debian/Ubuntu apt-get install python3-venv (or python$${1}.$${2}-venv)" >&2; exit 1; }
endef

check-python:
	@$(CHECK_PYTHON)
	@echo "$(PYTHON) can create .venv"

# wormhole/__init__.py holds the version, which the editable install's metadata copies
$(STAMP): pyproject.toml $(CONSTRAINTS) wormhole/__init__.py
	@test -x $(BIN)/python || { $(CHECK_PYTHON); }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e ".[vision,mnist,dev,book]"
	$(BIN)/pip uninstall -q -y wormhole 2>/dev/null || true   # the distribution's name before 0.1.0 became wormhole-maml
	touch $(STAMP)

test: $(STAMP) unit notebooks book-quick

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests $(addprefix --ignore=,$(SITE_TESTS))

notebooks: $(STAMP)
	rm -rf _build/metrics-quick   # the results page must see only this run's metrics
	WORMHOLE_QUICK=1 $(BIN)/python -m pytest -q --nbval-lax $(NBVAL_IGNORE) -p no:cacheprovider notebooks

# tests/test_browser.py needs Chromium; without it, say plainly that the browser checks were skipped
NO_BROWSER = $(BIN)/python -c "import sys; sys.path.insert(0, 'tools'); import chromium; sys.exit(chromium.find() is not None)" \
	&& echo "*** SKIPPED: the browser checks of tests/test_browser.py (no Chromium: apt-get install -y chromium) ***" || true

book-quick: $(STAMP)
	rm -rf _build/quick _build/metrics-quick
	$(SET_REPOSITORY)
	$(BIN)/python tools/build_book.py --quick $(BUILD_JOBS)
	WORMHOLE_SITE=_build/quick/_build/html $(BIN)/python -m pytest -q $(SITE_TESTS)
	@$(NO_BROWSER)

book: $(STAMP)
	$(SET_REPOSITORY)
	$(CPU_ENV) $(BIN)/python tools/build_book.py $(BUILD_JOBS)
	WORMHOLE_SITE=_build/html $(BIN)/python -m pytest -q $(SITE_TESTS)
	$(BIN)/python tools/verdicts.py record _build/html   # docs/verdicts/: this build's verdicts, for the README

check-site: $(STAMP)
	WORMHOLE_SITE=_build/html $(BIN)/python -m pytest -q $(SITE_TESTS)
	@$(NO_BROWSER)

# make screenshots [SITE=_build/quick/_build/html]: the README's pictures (docs/*.png), taken offline in Chromium
screenshots: $(STAMP)
	$(BIN)/python tools/screenshot.py --site "$(if $(filter command line,$(origin SITE)),$(SITE),_build/quick/_build/html)"

# make repository REPOSITORY=https://github.com/you/yourfork  (then commit _config.yml and notebooks/)
repository: $(STAMP)
	test -n "$(NEW_REPOSITORY)" || { echo "usage: make repository REPOSITORY=https://github.com/you/yourfork" >&2; exit 2; }
	$(SET_REPOSITORY)

# make publish [REMOTE=origin] [SITE=_build/html]: SITE becomes the gh-pages branch, pushed to REMOTE
# (-n writes .nojekyll so GitHub Pages serves _static/; -f force-pushes the branch).
publish: $(STAMP)
	test -f "$(SITE)/index.html" || { echo "no book in $(SITE): run make book first" >&2; exit 1; }
	$(BIN)/ghp-import -n -p -f -r "$(REMOTE)" -b "$(PAGES_BRANCH)" -m "Publish the book" "$(SITE)"

verdicts: $(STAMP)
	$(BIN)/python tools/verdicts.py readme

bench: $(STAMP)
	$(BIN)/python benchmarks/meta_step.py

clean:
	rm -rf _build
