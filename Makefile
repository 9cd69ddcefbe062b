# One-command setup: every target creates/updates .venv from requirements.txt first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APP_PORT ?= 8866
# `make notebooks` settings: which notebooks, output format and folder (the tests pass others).
# A notebook is NN_name or NNx_name (05b follows 05 without renumbering the rest); sorted, 05_
# comes before 05b_.
NOTEBOOKS ?= $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb notebooks/[0-9][0-9][a-z]_*.ipynb))
NB_FORMAT ?= html
NB_OUT ?= build/notebooks
# No MPLBACKEND here: Jupyter kernels started by these targets inherit the environment, and a
# non-interactive backend there would hide every figure. The CLI and the tests set their own.

.PHONY: demo test test-fast lint lab lab-instructor app bench notebooks figures gallery quality student hand-out grade clean sweep

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -e .
	@$(MAKE) -s git-filter
	@touch $(STAMP)

# In a git checkout, notebooks are stored without their outputs whatever a learner runs: the
# nbstripout git filter (installed into this repository's .git/config and .git/info/attributes)
# drops outputs and execution counts as git reads a notebook, so `git diff` shows no change in a
# notebook that was only run, and no commit takes its outputs; the file keeps them on disk.
# --keep-id: the stored cell ids stay (nbstripout would renumber them). NB_EXTRA_KEYS: what
# JupyterLab adds to a notebook's metadata when it saves it (the kernel's language details; the
# kernel's name is stored as JupyterLab writes it). git still lists a file whose size changed as
# modified until it is added: `make lab` adds a saved notebook in which git sees no change
# (etc/lab/jupyter_server_config.py), so `git status` agrees. Outside a checkout: nothing to do.
NB_EXTRA_KEYS = $(addprefix metadata.language_info.,codemirror_mode file_extension mimetype \
	nbconvert_exporter pygments_lexer version)
.PHONY: git-filter
git-filter:
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
		$(BIN)/nbstripout --install && \
		git config filter.nbstripout.clean '"$(abspath $(BIN))/python" -m nbstripout --keep-id' && \
		git config diff.ipynb.textconv '"$(abspath $(BIN))/python" -m nbstripout --keep-id -t' && \
		git config filter.nbstripout.extrakeys '$(NB_EXTRA_KEYS)'; \
	fi

demo: $(STAMP)  ## stylize the bundled default images
	$(BIN)/python -m helpers stylize -o build/demo.png

# Two processes (pytest-xdist), each with one TensorFlow thread, as are the kernels and command
# lines they start (tests/conftest.py): on 2 cores the whole suite took 595 s this way against
# 990 s in one process with TensorFlow's two threads. JOBS=N for another number of processes.
test: $(STAMP)  ## run the whole test suite
	$(BIN)/python -m pytest -n $(or $(JOBS),2)

test-fast: $(STAMP)  ## all but the notebooks, the browser and the slow end-to-end runs
	$(BIN)/python -m pytest -m "not notebooks and not slow" -n $(or $(JOBS),2)

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check helpers tests bench docs

# `make lab` is the learner's JupyterLab: etc/lab/, first on JUPYTER_CONFIG_PATH for this launch
# only, disables nbgrader's JupyterLab extension (its "Nbgrader" menu and "Create Assignment"
# panel) and its server extensions; `make lab-instructor` keeps them. The notebooks' kernel,
# "Python 3 (ipykernel)", is .venv's Python. LAB_FLAGS: more `jupyter lab` options (the tests').
LAB_FLAGS ?=
LAB = $(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) \
	$(LAB_FLAGS)
lab: $(STAMP)  ## JupyterLab on notebooks/ for learners (no nbgrader menus)
	JUPYTER_CONFIG_PATH="$(CURDIR)/etc/lab$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" $(LAB)

lab-instructor: $(STAMP)  ## JupyterLab with nbgrader's menus and formgrader (the exercises)
	$(LAB)

# Voila reads voila.json from the current directory: it culls idle kernels (a closed tab's
# kernel is shut down 3 minutes after its last activity, checked every 30 s; an open tab's is
# kept) and takes uploads up to 100 MB (tornado drops larger websocket messages without a
# word; the app itself refuses over 50 MB in one line). On a hub, put the same
# MappingKernelManager.cull_* settings in the single-user server's jupyter_server_config.json.
# notebooks/app.ipynb only builds the app; notebook 06 teaches it.
app: $(STAMP)  ## the tuning app as a web page, no code shown: http://127.0.0.1:$(APP_PORT)
	$(BIN)/python -m voila notebooks/app.ipynb --no-browser --Voila.ip=127.0.0.1 \
		--port=$(APP_PORT)

notebooks: $(STAMP)  ## execute every notebook at real size; HTML copies in build/notebooks
	$(BIN)/jupyter nbconvert --to $(NB_FORMAT) --execute --ExecutePreprocessor.timeout=3600 \
		--output-dir $(NB_OUT) $(NOTEBOOKS)

student: $(STAMP)  ## student versions of notebooks/exercises (solutions stubbed) in build/student
	$(BIN)/python -m helpers exercises --student build/student

hand-out: $(STAMP)  ## what students get (the wheel, student notebooks, ex07's pictures; no answers): make hand-out [OUT=build/hand-out]
	PYTHON=$(BIN)/python sh docker/hand-out.sh $(or $(OUT),build/hand-out)

grade: $(STAMP)  ## grade submitted exercise notebooks: make grade DIR=submissions [OUT=build/grades.csv]
	$(BIN)/python -m helpers exercises --grade $(DIR) -o $(or $(OUT),build/grades.csv)

bench: $(STAMP)  ## speed and memory figures (not tests)
	$(BIN)/python bench/bench_speed.py
	$(BIN)/python bench/bench_preview.py
	$(BIN)/python bench/bench_highres.py

figures: $(STAMP)  ## the README's figures (docs/figures/*.png) from the bundled images
	$(BIN)/python docs/make_figures.py

gallery: $(STAMP)  ## every bundled pair (or FOLDER=dir with content/ and style/) in one grid
	$(BIN)/python -m helpers gallery $(FOLDER) --size $(or $(SIZE),384) -o build/gallery.png

quality: $(STAMP)  ## every pair in FOLDER (default: the bundled images) at 512 px: side-by-sides, palette, edge and marks numbers (overall and in the flat regions) in build/quality
	$(BIN)/python bench/quality.py $(FOLDER) --size $(or $(SIZE),512) -o build/quality

# `make sweep` settings: the grid (any `python -m helpers sweep` flags) and the output folder.
GRID ?= --style-weight 10,30,100 --tv-weight 1e-4,1e-3 --size 256 --iterations 100
SWEEP_OUT ?= build/sweep
sweep: $(STAMP)  ## a grid of looks on every core: make sweep [FOLDER=dir] [GRID="--style-weight 10,100 ..."]
	$(BIN)/python -m helpers sweep $(FOLDER) $(GRID) -o $(SWEEP_OUT)

clean:
	rm -rf build .pytest_cache

# `make book`: the notebooks with their outputs, the README, the glossary and docs/ as a static
# site in $(BOOK_OUT)/html (Sphinx + MyST-NB; open $(BOOK_OUT)/html/index.html). A notebook is
# executed into $(BOOK_EXECUTED) only when its copy there is missing or older than the notebook,
# so a second `make book` runs nothing that is current; `make notebooks NB_FORMAT=notebook
# NB_OUT=build/executed` fills the same folder. NST_FAST=1 (tiny, for the tests) keeps its own.
.PHONY: book
BOOK_EXECUTED ?= build/executed$(if $(filter 1,$(NST_FAST)),-fast)
BOOK_OUT ?= build/book
BOOK_COPIES = $(addprefix $(BOOK_EXECUTED)/,$(notdir $(NOTEBOOKS)))
$(BOOK_EXECUTED)/%.ipynb: notebooks/%.ipynb | $(STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=3600 \
		--output-dir $(BOOK_EXECUTED) $<
book: $(BOOK_COPIES) | $(STAMP)  ## the tutorial as a static site with outputs: build/book/html
	$(BIN)/python docs/book/build.py --executed $(BOOK_EXECUTED) -o $(BOOK_OUT) $(NOTEBOOKS)
