# One-command setup: every target creates/updates .venv from requirements.txt first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APP_PORT ?= 8866
# `make notebooks` settings: which notebooks, output format and folder (the tests pass others).
NOTEBOOKS ?= $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
NB_FORMAT ?= html
NB_OUT ?= build/notebooks
# No MPLBACKEND here: Jupyter kernels started by these targets inherit the environment, and a
# non-interactive backend there would hide every figure. The CLI and the tests set their own.

.PHONY: demo test test-fast lint lab app bench notebooks figures gallery quality student grade clean sweep

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name nst --display-name "Python (nst)" >/dev/null
	@touch $(STAMP)

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

lab: $(STAMP)  ## JupyterLab on notebooks/ with the project's kernel
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

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

quality: $(STAMP)  ## every pair in FOLDER (default: the bundled images) at 512 px: side-by-sides, palette and edge numbers in build/quality
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
