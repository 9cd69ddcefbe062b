"""Reading and writing the exercise notebooks (notebooks/exercises/ex*.ipynb) safely, for
the student versions and the grader: a notebook is read only from a regular file, with a
bound on its size, and anything that is not a notebook (not UTF-8, not JSON, JSON of another
shape) is one StyleTransferError line naming the file; notebooks are written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError
from helpers.files import check_input, read_bytes, write_text

NOTEBOOK_BYTES = 100 * 2**20  # the largest notebook read (submitted or the instructor's)


def read_notebook(path: Path, what: str = "notebook") -> Any:
    """The notebook at ``path`` (a regular file of at most :data:`NOTEBOOK_BYTES`), or one
    StyleTransferError line saying why it cannot be read (a pipe, too large, not JSON, not
    a notebook)."""
    import nbformat

    data = read_bytes(check_input(path, what), NOTEBOOK_BYTES + 1, what)
    if len(data) > NOTEBOOK_BYTES:
        raise StyleTransferError(f"{what} {path} is larger than {NOTEBOOK_BYTES // 2**20} MB")
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        _shape(nb)
    except Exception as exc:  # not UTF-8, not JSON, not a notebook (nbformat's many errors)
        text = (str(exc).strip().splitlines() or [""])[0][:200]
        raise StyleTransferError(f"{what} {path} is not a notebook ({type(exc).__name__}: "
                                 f"{text})") from None
    return nb


def _shape(nb: Any) -> None:
    """Raise ValueError unless ``nb`` has what grading uses: a list of cells, each with a
    type, a text source and a metadata mapping (nbformat's full schema is not required: a
    notebook an older Jupyter wrote is still graded)."""
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError("no list of cells")
    for index, cell in enumerate(cells):
        if not (isinstance(cell, dict) and isinstance(cell.get("cell_type"), str)
                and isinstance(cell.get("source"), str)
                and isinstance(cell.get("metadata"), dict)):
            raise ValueError(f"cell {index} lacks a type, a source or metadata")
        if cell["cell_type"] == "code" and not isinstance(cell.get("outputs", []), list):
            raise ValueError(f"cell {index}: its outputs are not a list")


def write_notebook(nb: Any, path: Path) -> Path:
    """Write ``nb`` to ``path`` atomically (:func:`helpers.files.write_text`)."""
    import nbformat

    return write_text(path, nbformat.writes(nb))
