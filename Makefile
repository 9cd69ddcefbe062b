# One-command setup: every target creates/updates .venv from requirements.txt first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MPLBACKEND ?= Agg

.PHONY: demo test lint lab bench clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name nst --display-name "Python (nst)" >/dev/null
	@touch $(STAMP)

demo: $(STAMP)  ## stylize the bundled default images
	$(BIN)/python -m helpers stylize -o build/demo.png

test: $(STAMP)  ## run the whole test suite
	$(BIN)/python -m pytest

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check helpers tests bench

lab: $(STAMP)  ## JupyterLab on notebooks/ with the project's kernel
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)  ## speed and memory figures (not tests)
	$(BIN)/python bench/bench_speed.py

clean:
	rm -rf build .pytest_cache
