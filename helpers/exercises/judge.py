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
import zipfile
import zlib
from pathlib import Path
from typing import Any, NoReturn

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
    working folder; return the job file's name there (the harness's argument). The kernel
    can write that folder, so nothing there is followed or reopened by name
    (:func:`helpers.files.write_into`) and the files get fixed permissions (0o644)."""
    from helpers.files import write_into

    kind = "lbfgs" if check == "lbfgs" else "look" if check == "look" else "spec"
    job: dict = {"kind": kind, "function": function,
                 "library": _library(check), "inputs": f"inputs-{tag}.npz"}
    if kind != "look":
        data, layouts = _inputs(check)
        write_into(folder, job["inputs"], data)
        spec = specs().get(check)
        job.update(cases=layouts, tensors=any(lay["t"] in ("tensor", "dict")
                                              for case in layouts for lay in case),
                   watch=bool(spec and spec.watch), substitute=SUBSTITUTE.get(check, {}))
    write_into(folder, f"job-{tag}.json", json.dumps(job).encode("utf-8"))
    return f"job-{tag}.json"


def _bowl() -> Any:
    from helpers.exercises.ex06_lbfgs import _Bowl

    if "bowl" not in _engine._HIDDEN:
        _engine._HIDDEN["bowl"] = [_Bowl()]  # type: ignore[list-item]
    return _engine._HIDDEN["bowl"][0]


# ------------------------------------------------------------------------ from the kernel

class _Other:
    """Stands for a value the kernel described but did not send (its type's name only)."""


#: The most bytes of arrays one answer holds once read (the harness writes them
#: uncompressed, so no more than the answer file the runner reads back).
ANSWER_BYTES = 64 * 2**20
#: The longest list or tuple an answer may describe (only its first items are sent), and
#: how deep lists may nest: a longer or deeper one is a forged answer.
MAX_ITEMS = 1 << 20
MAX_DEPTH = 16
FORGED = ("a forged answer: {why}; the grader reads what its own harness writes, so nothing "
          "is credited for this check")


class ForgedAnswer(CheckFailed):
    """The kernel's answer is not one the harness writes (too long, too deep, an array
    larger than the answer could hold): refused before anything large is made."""


class Answers:
    """The arrays of one answer (an ``np.load`` npz, or a dict in tests), each checked before
    it is read: its ``.npy`` header must declare no more bytes than the zip says the member
    holds, and the members together no more than :data:`ANSWER_BYTES`. ``forged`` keeps the
    first refusal (a check that catches the failure still ends forged)."""

    def __init__(self, npz: Any) -> None:
        self.npz, self.forged = npz, ""
        self.files = list(npz.files if hasattr(npz, "files") else npz)
        self.zip = getattr(npz, "zip", None)
        sizes = [i.file_size for i in self.zip.infolist()] if self.zip is not None else []
        if sum(sizes) > ANSWER_BYTES:  # noted here, raised when judged
            self.forged = f"its arrays would take {sum(sizes):,} bytes (at most {ANSWER_BYTES:,})"

    def refuse(self, why: str) -> NoReturn:
        """Note ``why`` and raise it as :class:`ForgedAnswer`."""
        self.forged = self.forged or why
        raise ForgedAnswer("answer", FORGED.format(why=self.forged))

    def __contains__(self, key: object) -> bool:
        return key in self.files

    def __getitem__(self, key: str) -> Any:
        if self.forged:
            self.refuse(self.forged)
        try:
            if self.zip is not None and key in self.files:
                self._check_member(key)
            return self.npz[key]
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError) as exc:
            self.refuse(f"the array {key!r} is damaged ({type(exc).__name__}: "
                        f"{str(exc)[:60]})")

    def _check_member(self, key: str) -> None:
        name = f"{key}.npy" if f"{key}.npy" in self.zip.namelist() else key
        info = self.zip.getinfo(name)
        if not name.endswith(".npy"):
            return  # raw bytes: np.load reads exactly file_size, counted above
        with self.zip.open(info) as member:
            try:
                version = np.lib.format.read_magic(member)
                reader = {(1, 0): np.lib.format.read_array_header_1_0,
                          (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if reader is None:
                    raise ValueError(f"format version {version} (the harness writes 1.0)")
                shape, _, dtype = reader(member, max_header_size=10_000)
            except (ValueError, EOFError) as exc:
                self.refuse(f"the array {key!r} has no valid header ({str(exc)[:80]})")
        count = 1
        for n in shape:
            count *= n
        if dtype.hasobject or count * dtype.itemsize > info.file_size:
            self.refuse(f"the array {key!r} declares shape {tuple(shape)[:8]} of {dtype}, "
                        f"more than its {info.file_size:,} bytes")


def _refuse(npz: Any, why: str) -> NoReturn:
    if isinstance(npz, Answers):
        npz.refuse(why)
    raise ForgedAnswer("answer", FORGED.format(why=why))


def decode(meta: dict, npz: Any, depth: int = 0) -> Any:
    """A value the kernel described (:func:`harness.encode`): arrays from ``npz``, a list or
    tuple by its length, anything else by its type's name. A list longer than
    :data:`MAX_ITEMS` or nested deeper than :data:`MAX_DEPTH` is :class:`ForgedAnswer`."""
    if not isinstance(meta, dict):
        _refuse(npz, f"a value described as {type(meta).__name__}, not as the harness does")
    kind = meta.get("k")
    if kind == "none":
        return None
    if kind == "py":
        try:
            return {"int": int, "bool": bool}.get(meta.get("type"), float)(meta.get("v", 0))
        except (TypeError, ValueError, OverflowError):
            _refuse(npz, f"a number that is not one ({str(meta.get('v'))[:40]})")
    if kind in ("list", "tuple"):
        length, sent = meta.get("len", 0), meta.get("items", [])
        if (not isinstance(length, int) or not 0 <= length <= MAX_ITEMS
                or depth >= MAX_DEPTH or not isinstance(sent, list)):
            _refuse(npz, f"a {kind} of {str(length)[:20]} items at depth {depth} (at most "
                         f"{MAX_ITEMS:,} items, {MAX_DEPTH} deep)")
        items = [decode(m, npz, depth + 1) for m in sent[:length]]
        items += [None] * (length - len(items))
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
        if not isinstance(meta, dict):
            _refuse(npz, "an input's state after the call not described as the harness does")
        if meta.get("t") == "array":
            after.append(np.asarray(npz[key]))
        elif meta.get("t") == "dict":
            names, bad = meta.get("keys", []), meta.get("bad", [])
            if len(names) > MAX_ITEMS or len(bad) > MAX_ITEMS:
                _refuse(npz, f"a dictionary of {len(names)} entries (at most {MAX_ITEMS:,})")
            bad = {i for i in bad if isinstance(i, int)}
            after.append({name: (np.full(1, np.nan) if i in bad else
                                 np.asarray(npz[f"{key}/{i}"]))
                          for i, name in enumerate(names)})
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
                      str(records[i].get("gradient", "")) if spec.watch else "")

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
