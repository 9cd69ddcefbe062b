#!/bin/sh
# What students get, in one folder the images are built from (run in the repository root):
#   sh docker/hand-out.sh [OUT]          (default OUT: build/hand-out; it must not exist yet)
# OUT/nst_helpers-*.whl   the library, without the instructor's notebooks or ex07's settings
# OUT/notebooks/          the student notebooks and the ex07 target pictures
# OUT/requirements.txt    the pinned versions the project is tested with
# The instructor's folder (notebooks/exercises: solutions, look_target.json) is never copied.
set -eu
PYTHON=${PYTHON:-python3}
OUT=${1:-build/hand-out}
if [ -e "$OUT" ]; then
    echo "error: $OUT exists; remove it or give another folder" >&2
    exit 2
fi
"$PYTHON" -m pip wheel . --no-deps -q -w "$OUT"
"$PYTHON" -m helpers exercises --student "$OUT/notebooks" --source notebooks/exercises
cp requirements.txt "$OUT/"
