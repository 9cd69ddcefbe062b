"""Verdicts computed where no student code runs (notebooks/exercises, graded by
:mod:`helpers.exercises.grading`): the grader draws this run's hidden inputs, writes them for
the student's kernel (:func:`write_job`: ``np.savez`` and JSON, no pickle), the kernel's
:mod:`helpers.exercises.harness` calls the student's function on them and writes back what
came out, and :func:`judge` compares that with the references computed here, names the
mistake with the same engine as the practice ``check()``, and gives the credit. Nothing the
student's kernel sends is executed or unpickled here; a forged or missing answer can only
be wrong.

The inputs are drawn afresh for every grading run (:func:`new_seed`, from ``secrets``; the
seed is printed and kept in the summary, so ``--seed`` reproduces a run), the same for every
student of the run.
"""

from __future__ import annotations

import importlib.util
import io
import json
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from helpers.exercises import _engine, harness
from helpers.exercises._engine import (
    NOT_IMPLEMENTED,
    Answer,
    Case,
    CheckFailed,
    Spec,
    hidden_cases,
    is_tensor,
    library_message,
    raised_message,
)
from helpers.exercises.cases import recorded, use_seed

#: The library's answers to each exercise (module, function): a call of any of them while
#: the student's function runs (through any alias) is named and not counted.
_KERAS = "keras.src.applications."
LIBRARY: dict[str, list[tuple[str, str]]] = {
    "preprocess": [("helpers.images", "preprocess"), (_KERAS + "vgg19", "preprocess_input"),
                   (_KERAS + "vgg16", "preprocess_input"),
                   (_KERAS + "imagenet_utils", "preprocess_input"),
                   (_KERAS + "imagenet_utils", "_preprocess_numpy_input"),
                   (_KERAS + "imagenet_utils", "_preprocess_tensor_input")],
    "deprocess": [("helpers.images", "deprocess")],
    "gram": [("helpers.losses", "gram_matrix"), ("helpers.losses", "_gram"),
             ("helpers.fast_ops", "gram")],
    "content": [("helpers.losses", "content_loss")],
    "style_layer": [("helpers.losses", "style_layer_loss"), ("helpers.losses", "style_loss"),
                    ("helpers.losses", "masked_gram_loss"),
                    ("helpers.style_losses.gram", "layer_loss")],
    "style": [("helpers.losses", "style_loss"), ("helpers.losses", "masked_gram_loss"),
              ("helpers.style_losses.gram", "layer_loss")],
    "tv": [("helpers.losses", "total_variation_loss"),
           ("helpers.objective", "_total_variation_loss")],
}
#: Checks graded with a reference put in place of a function the student wrote for an
#: earlier check (the name in their notebook -> the harness's reference).
SUBSTITUTE = {"style": {"style_layer_loss": "style_layer"}}


def new_seed() -> int:
    """A fresh seed for one grading run's hidden inputs."""
    return secrets.randbits(62)


def start_run(seed: int) -> None:
    """Draw the hidden inputs from ``seed`` (once per grading run, before any job)."""
    use_seed(seed)
    _engine._HIDDEN.clear()
    _INPUTS.clear()


def specs() -> dict[str, Spec]:
    """Every check graded by comparing arrays, by name."""
    from helpers.exercises import _SPECS
    from helpers.exercises.custom import REGISTERED
    from helpers.exercises.ex01_preprocess import DEPROCESS

    return {**_SPECS, "deprocess": DEPROCESS, **{n: s for n, (s, _) in REGISTERED.items()}}


# ------------------------------------------------------------------------- to the kernel

def _layout(value: Any, key: str, arrays: dict) -> dict:
    if isinstance(value, dict):
        return {"t": "dict", "keys": [str(k) for k in value],
                "v": [_layout(v, f"{key}/{i}", arrays) for i, v in enumerate(value.values())]}
    if isinstance(value, float | int | np.floating | np.integer):
        return {"t": "float", "v": float(value)}
    if is_tensor(value):
        arrays[key] = np.asarray(value)
        return {"t": "tensor"}
    arrays[key] = np.asarray(value)
    return {"t": "array"}


def _library(check: str) -> list[dict]:
    """The library answers of ``check``, each with its file and compiled bytecode (the
    source is compiled here, never run), for the harness's watch."""
    found = []
    for module, attr in LIBRARY.get(check, []):
        item = {"module": module, "attr": attr, "name": attr, "shown": f"{module}.{attr}",
                "file": module.replace(".", "/") + ".py"}
        code = _code_of(module, attr)
        if code is not None:
            item.update(print=harness.fingerprint(code), names=list(code.co_names))
        found.append(item)
    return found


def _code_of(module: str, attr: str) -> Any:
    """The code of function ``attr`` in ``module``'s source file, compiled, never imported
    (finding ``keras.src…`` by import would load TensorFlow into the grader)."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent.joinpath(*rest).with_suffix(".py") if rest else Path(
        spec.origin)
    if not path.is_file():
        return None
    top_code = compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)
    return next((c for c in top_code.co_consts if getattr(c, "co_name", None) == attr), None)


_INPUTS: dict[str, tuple[bytes, list]] = {}


def _inputs(check: str) -> tuple[bytes, list]:
    """This run's hidden inputs of ``check`` as npz bytes and their layouts (made once)."""
    if check not in _INPUTS:
        arrays: dict = {}
        if check == "lbfgs":
            bowl = _bowl()
            layouts: list = []
            arrays.update(weight=bowl.weight, target=bowl.target, points=np.stack(bowl.points),
                          others=np.stack([p * 0.5 + 3.0 for p in bowl.points]))
        else:
            cases = hidden_cases(check, specs()[check])
            layouts = [[_layout(a, f"c{i}/a{j}", arrays) for j, a in enumerate(case.args)]
                       for i, case in enumerate(cases)]
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        _INPUTS[check] = (buffer.getvalue(), layouts)
    return _INPUTS[check]


def write_job(check: str, function: str, folder: Path, tag: str) -> str:
    """Write the job of ``check`` (the student's function ``function``) into the kernel's
    working folder; return the job file's name there (the harness's argument)."""
    from helpers.files import write_bytes, write_text

    kind = "lbfgs" if check == "lbfgs" else "look" if check == "look" else "spec"
    job: dict = {"kind": kind, "function": function,
                 "library": _library(check), "inputs": f"inputs-{tag}.npz"}
    if kind != "look":
        data, layouts = _inputs(check)
        write_bytes(folder / job["inputs"], data)
        spec = specs().get(check)
        job.update(cases=layouts, tensors=any(lay["t"] in ("tensor", "dict")
                                              for case in layouts for lay in case),
                   watch=bool(spec and spec.watch), substitute=SUBSTITUTE.get(check, {}))
    write_text(folder / f"job-{tag}.json", json.dumps(job))
    return f"job-{tag}.json"


def _bowl() -> Any:
    from helpers.exercises.ex06_lbfgs import _Bowl

    if "bowl" not in _engine._HIDDEN:
        _engine._HIDDEN["bowl"] = [_Bowl()]  # type: ignore[list-item]
    return _engine._HIDDEN["bowl"][0]


# ------------------------------------------------------------------------ from the kernel

class _Other:
    """Stands for a value the kernel described but did not send (its type's name only)."""


def decode(meta: dict, npz: Any) -> Any:
    """A value the kernel described (:func:`harness.encode`): arrays from ``npz``, a list or
    tuple by its length, anything else by its type's name."""
    kind = meta.get("k")
    if kind == "none":
        return None
    if kind == "py":
        return {"int": int, "bool": bool}.get(meta.get("type"), float)(meta.get("v", 0))
    if kind in ("list", "tuple"):
        items = [decode(m, npz) for m in meta.get("items", [])][: int(meta.get("len", 0))]
        items += [None] * (int(meta.get("len", 0)) - len(items))
        return items if kind == "list" else tuple(items)
    if kind in ("tensor", "ndarray", "scalar"):
        array = np.asarray(npz[str(meta["key"])])
        dtype = str(meta.get("dtype", array.dtype))
        if kind == "scalar":
            return array[()]
        if kind == "tensor" or dtype != str(array.dtype):
            return recorded(array, kind == "tensor", dtype)
        return array
    return type(str(meta.get("type", "object"))[:80], (_Other,), {})()


def failure_of(check: str, record: dict) -> CheckFailed | None:
    """What the student's call went wrong with, from the kernel's record (None: it returned)."""
    status = record.get("status")
    if record.get("library"):
        return CheckFailed(check, library_message(str(record["library"])))
    if status == "not_implemented":
        return CheckFailed(check, NOT_IMPLEMENTED)
    if status == "raised":
        return CheckFailed(check, raised_message(str(record.get("type")),
                                                 str(record.get("error", "")), check),
                           str(record.get("traceback", "")))
    if status == "changed":
        return CheckFailed(check, "your notebook changed the answer files after the grader's "
                                  "harness wrote them (something left running in it?): no "
                                  "answer was graded")
    if status != "ok":
        return CheckFailed(check, "the grader got no answer for this check from your notebook")
    return None


def _after(case: Case, layouts: list, record: dict, npz: Any, tag: str) -> tuple:
    after = []
    for j, (arg, meta) in enumerate(zip(case.args, record.get("after", []), strict=False)):
        key = f"{tag}/after{j}"
        if meta.get("t") == "array":
            after.append(np.asarray(npz[key]))
        elif meta.get("t") == "dict":
            after.append({name: (np.full(1, np.nan) if i in meta.get("bad", []) else
                                 np.asarray(npz[f"{key}/{i}"]))
                          for i, name in enumerate(meta.get("keys", []))})
        else:
            after.append(arg)
    return tuple(after) if len(after) == len(case.args) else case.args


def judge_arrays(check: str, records: list, npz: Any, tag: str = "graded") -> str:
    """The ✓ line of a check graded on arrays, or CheckFailed naming the mistake. The
    hidden inputs are judged in turn, as the practice check does: the first one that went
    wrong (an error, a changed input, a wrong type or shape) ends the check."""
    from helpers.exercises.ex01_preprocess import deprocess_steps

    spec = specs()[check]
    cases = hidden_cases(check, spec)
    layouts = _inputs(check)[1]

    def get(i: int, case: Any) -> Answer:
        if i >= len(records) or not isinstance(records[i], dict):
            raise CheckFailed(check, "the grader got no answer for every hidden input")
        failure = failure_of(check, records[i])
        if failure is not None:
            raise failure
        return Answer(decode(records[i].get("out", {}), npz),
                      _after(case, layouts[i], records[i], npz, f"{tag}/c{i}"),
                      str(records[i].get("gradient", "")))

    return _engine.judge_in_order(check, spec, cases, get,
                                  deprocess_steps if check == "deprocess" else None)


def _substituted(check: str, result: dict, npz: Any) -> str:
    """A check graded with the reference in place of the student's earlier function; the
    ✓ line says what their own function made of it when that differs."""
    line = judge_arrays(check, result.get("graded", []), npz)
    try:
        judge_arrays(check, result.get("own", []), npz, "own")
    except CheckFailed as own:
        names = ", ".join(SUBSTITUTE[check])
        return (f"{line}; graded with the reference {names} in place of yours (so one "
                f"mistake costs once): with your own {names}, {own.message}")
    return line
