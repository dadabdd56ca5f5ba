# pg_jobmon: PGXS build and install, and the project's own targets (demo, test, bench).
EXTENSION = pg_jobmon
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)
# Each folder extension/updates/OLD--NEW/ makes the script that updates OLD to this version.
UPDATE_FROM := $(patsubst extension/updates/%--$(EXTVERSION),%,\
	$(wildcard extension/updates/*--$(EXTVERSION)))
DATA_built = extension/$(EXTENSION)--$(EXTVERSION).sql \
	$(foreach old,$(UPDATE_FROM),extension/$(EXTENSION)--$(old)--$(EXTVERSION).sql)
# The command pg_jobmon (check, watch, metrics): the package cli/ as one executable zip,
# installed beside psql in the server's bindir.
SCRIPTS_built = build/pg_jobmon
EXTRA_CLEAN = build

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

PYTHON ?= python3
BUILD_INPUTS := extension/build.py extension/loader.py $(EXTENSION).control \
	$(wildcard extension/objects/*.sql extension/functions/*.sql plpython_src/*.py)

extension/$(EXTENSION)--$(EXTVERSION).sql: $(BUILD_INPUTS)
	$(PYTHON) extension/build.py --output $@

extension/$(EXTENSION)--%--$(EXTVERSION).sql: $(BUILD_INPUTS) extension/updates/%--$(EXTVERSION)/*.sql
	$(PYTHON) extension/build.py --update-from $* --output $@

# The command runs with the server's Python, which has psycopg (scripts/ensure-deps.sh).
COMMAND_PYTHON ?= /usr/bin/python3

# The embedded modules' code objects, compiled by the server's Python at install time
# (extension/loader.py reads them; a backend whose Python differs compiles instead).
# Written by `make install` only, so that `make` and `make dist` need no Python; without
# that Python, the install goes on without the cache.
CODE_CACHE = $(EXTENSION)--$(EXTVERSION).pycache

.PHONY: install-code-cache uninstall-code-cache
install: install-code-cache
uninstall: uninstall-code-cache

install-code-cache: installdirs
	@if $(COMMAND_PYTHON) -c '' 2>/dev/null; then \
		mkdir -p build && \
		$(COMMAND_PYTHON) extension/build.py --code-cache --output build/$(CODE_CACHE) && \
		$(INSTALL_DATA) build/$(CODE_CACHE) '$(DESTDIR)$(datadir)/$(datamoduledir)/'; \
	else \
		echo "no $(COMMAND_PYTHON): $(CODE_CACHE) not installed (first calls compile instead)"; \
	fi

uninstall-code-cache:
	rm -f '$(DESTDIR)$(datadir)/$(datamoduledir)/$(CODE_CACHE)'

build/pg_jobmon: $(wildcard cli/*.py)
	rm -rf build/command
	mkdir -p build/command/cli
	cp cli/*.py build/command/cli/
	$(PYTHON) -m zipapp build/command --output $@ --python "$(COMMAND_PYTHON)" \
		--main cli.entry:main

# The test tools live in a virtualenv that the unprivileged user running the clusters
# can read (PostgreSQL refuses to run as root).
VENV ?= /var/tmp/pg_jobmon-venv

.PHONY: deps demo test lint bench
deps:
	scripts/ensure-deps.sh "$(VENV)"

demo: deps install
	scripts/as-postgres.sh "$(VENV)/bin/python" scripts/demo.py

lint: deps
	"$(VENV)/bin/ruff" check .
	"$(VENV)/bin/ruff" format --check .
	"$(VENV)/bin/mypy"

test: deps install lint
	scripts/as-postgres.sh "$(VENV)/bin/python" -m pytest -p no:cacheprovider tests $(PYTEST_ARGS)

# The log calls against pgbench's floor; writes bench/RESULTS.md and bench/results.png.
bench: deps install
	scripts/ensure-deps.sh "$(VENV)" bench/requirements.txt
	scripts/bench.sh "$(VENV)/bin/python" $(BENCH_ARGS)

# ---------------------------------------------------------------------------------------
# Release: `make dist [DIST_DIR=dir]` writes $(EXTENSION)-$(EXTVERSION).zip, the archive
# PGXN takes, and a .tar.gz of the same tree: the committed tree (HEAD) plus the generated
# $(DATA_built) and the command $(SCRIPTS_built), built from HEAD's sources
# (scripts/dist.sh says how).
DIST_DIR ?= $(CURDIR)

.PHONY: dist
dist:
	MAKE="$(MAKE)" PG_CONFIG="$(PG_CONFIG)" PYTHON="$(PYTHON)" \
		scripts/dist.sh "$(EXTENSION)" "$(EXTVERSION)" "$(abspath $(DIST_DIR))" \
		$(DATA_built) $(SCRIPTS_built)
