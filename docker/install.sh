#!/bin/sh
# The install steps of both images (docker/student/Dockerfile, docker/grader/Dockerfile), and
# of tests/test_class_recipes.py, which runs them in a fresh virtual environment:
#   sh docker/install.sh HANDOUT [HOME]
# installs HANDOUT/nst_helpers-*.whl into $PYTHON's environment with the project's kernel
# ("Python (nst)"); with HOME, copies the student notebooks and pictures to HOME/exercises.
# PIP_FLAGS adds pip options (the test passes --no-deps: no downloads).
set -eu
PYTHON=${PYTHON:-python}
HANDOUT=$1
# shellcheck disable=SC2086  # PIP_FLAGS is a list of options
"$PYTHON" -m pip install --no-cache-dir ${PIP_FLAGS:-} "$HANDOUT"/nst_helpers-*.whl
"$PYTHON" -m ipykernel install --sys-prefix --name nst --display-name "Python (nst)" >/dev/null
if [ $# -ge 2 ]; then
    mkdir -p "$2/exercises"
    cp "$HANDOUT"/notebooks/*.ipynb "$HANDOUT"/notebooks/*.png "$2/exercises/"
fi
