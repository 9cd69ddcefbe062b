"""nbgrader's ``generate_assignment`` with this project's student versions of
notebooks/exercises: its ``ClearSolutions`` replaces every solution block with one fixed stub
(``# YOUR CODE HERE`` / ``raise NotImplementedError()``), dropping the ``### HINT:`` lines and
the "exercise N: write F first" messages. :class:`ClearSolutionsWithHints` writes the same
stubs as ``python -m helpers exercises --student`` instead. In the course's
``nbgrader_config.py``::

    from helpers.exercises.nbgrader_hints import configure
    configure(c)

Needs nbgrader (0.9.x, in requirements.txt); the rest of the library does not.
"""

from __future__ import annotations

from typing import Any

from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import ClearSolutions

from helpers.exercises.student import BEGIN, exercise_number, student_source


class ClearSolutionsWithHints(ClearSolutions):
    """nbgrader's ClearSolutions writing this project's stubs in Python code cells: the
    hints kept as ``# Hint:`` comments and ``raise NotImplementedError("exercise N: write F
    first")`` (other cells and languages as nbgrader does)."""

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        """Note the exercise number (``exNN`` of the notebook's name, else its title), then
        clear the solutions."""
        self._exercise = exercise_number(nb, f"{resources.get('unique_key', '')}.ipynb")
        return super().preprocess(nb, resources)

    def _replace_solution_region(self, cell: Any, language: str) -> bool:
        if cell.cell_type != "code" or language != "python" or BEGIN not in cell.source:
            return super()._replace_solution_region(cell, language)
        try:
            cell.source = student_source(cell.source, getattr(self, "_exercise", None))
        except ValueError as exc:  # nbgrader's own wording for unmatched markers
            self.log.error("%s. Cell contents are: \n%s", exc, cell.source)
            raise RuntimeError(str(exc)) from None
        return True


def configure(c: Any) -> None:
    """Make ``nbgrader generate_assignment`` use :class:`ClearSolutionsWithHints` in place of
    ``ClearSolutions`` (``c``: the config object of ``nbgrader_config.py``)."""
    default = GenerateAssignment.class_traits()["preprocessors"].default()
    c.GenerateAssignment.preprocessors = [ClearSolutionsWithHints if p is ClearSolutions else p
                                          for p in default]
