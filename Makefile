# Attention, from scratch — set-up, book, tests.
#   make book    set up .venv and build the HTML book into _build/html
#   make test    set up .venv and run every test (what CI runs)
#   make lab     copy the exercises to my_work/ and open them in the learners' JupyterLab: nbgrader's
#                Validate button, none of the instructor's tools (lab/start.py, settings in lab/learner/)
#   make instructor-lab   JupyterLab at the repository root with every nbgrader tool (Formgrader,
#                Create Assignment, ...) for writing solutions/ and grading
#   make exercises   regenerate exercises/ from solutions/ with nbgrader
#   make benchmark   run benchmarks/ and rewrite benchmarks/RESULTS.md
# The Python that creates .venv: PYTHON=/path/to/python, else the newest supported python3.x on PATH
# that runs (a pyenv shim for a version that is not installed does not), else python3 if supported.
SUPPORTED_PYTHONS := 3.13 3.12 3.11
PYTHON ?= $(shell for v in $(SUPPORTED_PYTHONS); do p=$$(command -v python$$v) && "$$p" -c '' 2>/dev/null && { echo "$$p"; exit; }; done; command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# nbgrader runs helper programs (alembic) by name, so the venv must come first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
ASSIGNMENTS := $(notdir $(wildcard solutions/[0-9]*))

.PHONY: setup book test lab instructor-lab exercises lock benchmark clean

setup: $(STAMP)
	@$(BIN)/python -c 'import sys; print("Using .venv: Python", sys.version.split()[0], "(" + sys.base_prefix + ")")'
	@# The browser tests (tests/test_browser.py) drive Debian's Chromium through Playwright (no browser
	@# download). On CI (CI=true, run as root) set-up installs it; elsewhere they skip without it.
	@if [ "$$CI" = true ] && [ -z "$$CHROMIUM" ] && ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "CI: installing Chromium for the browser tests"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; fi
	@# nbgrader autograde runs submissions in a bubblewrap sandbox (autograder/) and refuses to
	@# grade without it; on CI (root) set-up installs it, elsewhere its tests skip with a message.
	@if [ "$$CI" = true ] && ! command -v bwrap >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "CI: installing bubblewrap for the grading sandbox"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y bubblewrap; fi

# The lock pins every package, torch==2.13.0 included (on Linux, PyPI's torch wheel brings GBs of
# CUDA packages, which torch itself pins; book/setup.md shows the smaller CPU-only build).
$(STAMP): pyproject.toml requirements/constraints.txt
	@"$(PYTHON)" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null || { \
		echo "No supported Python found (tried $(or $(PYTHON),python3.13, python3.12, python3.11, python3)): the course needs Python 3.11, 3.12 or 3.13; install one, or name it with make PYTHON=/path/to/python3.12" >&2; exit 1; }
	@echo "Creating .venv with $(PYTHON) (Python $$("$(PYTHON)" -c 'import platform; print(platform.python_version())'))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[course]" --no-compile
	@# What pip would do (byte-compile every installed module) on every core instead of one (set-up
	@# 126 s -> 100 s on 2 cores). Graded kernels read the venv read-only, so the .pyc files must be
	@# there before grading. A few files are for newer Pythons only (torch's py312_intrinsics.py): pip
	@# skips them too.
	$(BIN)/python -c 'import compileall, sysconfig; [compileall.compile_dir(d, quiet=2, workers=0) for d in {sysconfig.get_path(k) for k in ("purelib", "platlib")}]'
	touch $(STAMP)

# The execution cache is keyed on each notebook's code, but the pages also show course_lib's
# source and results (and chapters 9, 11, 12 and 13 show benchmark results): when they change, executed outputs
# are stale, so drop the cache. A changed _toc.yml or _config.yml writes every page again, keeping the
# cache: Sphinx rewrites only changed pages, and the others would keep their old navigation.
COURSE_LIB_HASH = $(shell cat course_lib/*.py course_lib/data/* benchmarks/attention.json benchmarks/classification.json benchmarks/position_extrapolation.json benchmarks/extractive_qa.json | { sha1sum 2>/dev/null || shasum; } | cut -c1-16)

book: setup
	@# An inherited MPLBACKEND (e.g. Agg on a headless machine) would keep figures out of the pages.
	@if [ "$$(cat _build/.course_lib-hash 2>/dev/null)" != "$(COURSE_LIB_HASH)" ]; then \
		echo "course_lib changed (or first build): executing every notebook"; \
		rm -rf _build/.jupyter_cache; all=--all; \
	elif [ _toc.yml -nt _build/.course_lib-hash ] || [ _config.yml -nt _build/.course_lib-hash ]; then \
		echo "_toc.yml or _config.yml changed: writing every page again (each page's navigation lists them all)"; \
		all=--all; fi; \
	set -x; env -u MPLBACKEND $(BIN)/jupyter-book build . --builder html --warningiserror --nitpick --keep-going $$all
	@echo "$(COURSE_LIB_HASH)" > _build/.course_lib-hash
	@echo "The book is built: open file://$(CURDIR)/_build/html/index.html"

test: setup
	$(BIN)/python -m pytest --junitxml=_build/test-report.xml

# Learners work on a copy of the release in my_work/ (ignored by git): a new chapter's
# exercise is copied in, answers already there are never overwritten. lab/start.py adds --allow-root
# as root; tests/test_browser.py starts the lab with it too.
lab: setup
	mkdir -p my_work && cp -R -n exercises/. my_work/
	$(BIN)/python lab/start.py learner --notebook-dir=my_work

instructor-lab: setup
	$(BIN)/python lab/start.py instructor

exercises: setup
	for a in $(ASSIGNMENTS); do $(BIN)/nbgrader generate_assignment "$$a" --force --log-level=WARN || exit 1; done

# Measure the course's speed targets and rewrite benchmarks/RESULTS.md (target: under 15 minutes on 2 cores; its last
# section says how long the last run took; run `make test` first for the test-suite table).
benchmark: setup
	$(BIN)/python benchmarks/run.py

lock: setup
	@# A local build label (torch's "+cpu") is dropped: no public index serves it, and ==2.13.0 matches
	@# both the local CPU build and the public wheel.
	{ sed -n '1,4p' requirements/constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | sed -E 's/^([^=]+==[^+]+)\+.*$$/\1/'; } > requirements/constraints.new
	mv requirements/constraints.new requirements/constraints.txt

clean:
	rm -rf _build .pytest_cache
