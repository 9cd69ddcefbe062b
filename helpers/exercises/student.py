"""Student versions of the exercise notebooks (notebooks/exercises/ex*.ipynb): every
``### BEGIN SOLUTION`` … ``### END SOLUTION`` block becomes ``# YOUR CODE HERE``, its
``### HINT:`` lines, and ``raise NotImplementedError("exercise N: write F first")``
(``python -m helpers exercises --student OUTDIR``, ``make student``)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError

BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
_STUB = "# YOUR CODE HERE"
_DEF = re.compile(r"^(\s*)def\s+(\w+)\s*\(")


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _stub(indent: str, hints: list[str], functions: list[tuple[str, str]],
          exercise: int | None) -> list[str]:
    """The lines that replace one solution block."""
    enclosing = [name for level, name in functions if len(level) < len(indent)]
    what = (f"{enclosing[-1]} (in {enclosing[0]})" if len(enclosing) > 1
            else enclosing[0] if enclosing else "this cell's code")
    prefix = f"exercise {exercise}: " if exercise is not None else ""
    message = f"{prefix}write {what} first"
    return [f"{indent}{_STUB}", *(f"{indent}# Hint: {h}" for h in hints),
            f'{indent}raise NotImplementedError("{message}")']


def student_source(source: str, exercise: int | None = None) -> str:
    """A code cell's source with each solution block replaced by a hint comment and
    ``raise NotImplementedError("exercise N: write F first")`` at the block's indentation
    (F the function the block sits in)."""
    out: list[str] = []
    inside, hints, indent = False, [], ""
    functions: list[tuple[str, str]] = []  # (indentation, name) of the enclosing defs
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError(f"line {number}: {BEGIN} inside another solution block")
            inside, hints, indent = True, [], _indent(line)
        elif stripped.startswith(END):
            if not inside:
                raise ValueError(f"line {number}: {END} without {BEGIN}")
            out += _stub(indent, hints, functions, exercise)
            inside = False
        elif inside:
            if stripped.startswith(HINT):
                hints.append(stripped[len(HINT):].strip())
        else:
            if stripped:  # a def closes the defs at its own or a deeper indentation
                functions = [f for f in functions if len(f[0]) < len(_indent(line))]
            if match := _DEF.match(line):
                functions.append((match.group(1), match.group(2)))
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(out)


def has_solution(nb: Any) -> bool:
    """True if any code cell of the notebook holds a solution block."""
    return any(c.cell_type == "code" and BEGIN in c.source for c in nb.cells)


def exercise_number(nb: Any, path: str | Path | None = None) -> int | None:
    """N of ``exNN_*.ipynb``, else of the title "# Exercise N · …", else None."""
    if path is not None and (match := re.match(r"ex(\d+)", Path(path).name)):
        return int(match.group(1))
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (match := re.match(r"#\s*Exercise\s+(\d+)",
                                                               cell.source)):
            return int(match.group(1))
    return None


def student_version(nb: Any, exercise: int | None = None) -> Any:
    """A copy of the notebook with solutions replaced by stubs, outputs cleared."""
    student = copy.deepcopy(nb)
    number = exercise if exercise is not None else exercise_number(nb)
    for index, cell in enumerate(student.cells):
        if cell.cell_type != "code":
            continue
        try:
            cell.source = student_source(cell.source, number)
        except ValueError as exc:
            raise StyleTransferError(f"cell {index}: {exc}") from None
        cell.outputs, cell.execution_count = [], None
    return student


def write_student_versions(src_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the student version of every exercise notebook (``ex*.ipynb`` with solutions)
    in ``src_dir`` into ``out_dir``; return the paths written. Every notebook it would write
    is checked first against every source notebook (the same folder, a symlink to it or a
    hard link is refused before anything is written); each is written atomically."""
    from helpers.exercises.nbio import read_notebook, write_notebook
    from helpers.files import check_folder, check_output, same_file

    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise StyleTransferError(f"exercise folder not found: {src} (give --source DIR)")
    every = sorted(src.glob("ex*.ipynb"))
    notebooks = {p: read_notebook(p, "the instructor's notebook") for p in every}
    sources = [p for p, nb in notebooks.items() if has_solution(nb)]
    if not sources:
        raise StyleTransferError(f"no exercise notebooks with solutions in {src}")
    if out.exists() and not out.is_dir():
        what = "a file" if out.is_file() else "a pipe, device or socket"
        raise StyleTransferError(f"cannot write into {out}: it is {what}, not a folder")
    if same_file(out, src):
        raise StyleTransferError(f"--student {out} is the instructor's folder {src}: the "
                                 "student versions would replace the solutions; choose "
                                 "another folder")
    check_folder(out, "the student folder")
    targets = [check_output(out / p.name, [*every, *src.iterdir()], "the student version")
               for p in sources]
    for path, target in zip(sources, targets, strict=True):
        nb = notebooks[path]
        write_notebook(student_version(nb, exercise_number(nb, path)), target)
    return targets


_SOLUTION_RE = re.compile(rf"^\s*{re.escape(BEGIN)}.*?^\s*{re.escape(END)}", re.M | re.S)


def solution_lines(source: str) -> list[str]:
    """The non-empty, non-marker lines inside the solution blocks of ``source``."""
    lines = []
    for block in _SOLUTION_RE.findall(source):
        lines += [s for line in block.splitlines()[1:-1]
                  if (s := line.strip()) and not s.startswith(HINT)]
    return lines
