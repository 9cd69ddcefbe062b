"""What runs in a student's kernel when the grader asks it for answers (notebooks/exercises,
graded by :mod:`helpers.exercises.grading`). Nothing here decides a grade: it calls the
student's named function on the hidden inputs the grader wrote (``np.savez``), and writes
back what came out (arrays with ``np.savez``, the rest as JSON), the inputs afterwards,
whether a gradient flowed (or what computing it raised), a library answer that ran while
the student's function did, and the student's own traceback.

The grader sends this file's text to the kernel and runs it in a namespace of its own
(``exec``), so a student who patched ``helpers`` changes at most their own outputs. It
imports TensorFlow only for tensor inputs, and nothing of ``helpers``.

While the student's function runs, a profile hook (``sys.setprofile``) notes any call of a
library answer: by its code's name and file (any alias, a later import), by its
instructions (:func:`fingerprint`), or, for a ``tf.function`` object, by identity; the
modules already imported have those functions wrapped as well. A copy of the library's
source pasted and edited is not caught.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import traceback
from typing import Any, Callable

import numpy as np

HARNESS_FILE = "<nst-harness>"
BIG = 20_000_000  # values: a result larger than this is described, not sent


def encode(value: Any, key: str, arrays: dict) -> dict:
    """A JSON description of ``value`` (arrays go into ``arrays`` under ``key``)."""
    tf = sys.modules.get("tensorflow")
    if value is None:
        return {"k": "none"}
    if isinstance(value, bool | int | float) and not isinstance(value, np.generic):
        return {"k": "py", "type": type(value).__name__, "v": value}
    tensor = tf is not None and bool(tf.is_tensor(value))
    if isinstance(value, list | tuple):
        items = [encode(v, f"{key}.{i}", arrays) for i, v in enumerate(value[:4])]
        return {"k": type(value).__name__, "len": len(value), "items": items}
    if tensor or isinstance(value, np.ndarray | np.generic):
        return _array(value, key, arrays, tensor)
    return {"k": "other", "type": type(value).__name__}


def _array(value: Any, key: str, arrays: dict, tensor: bool) -> dict:
    dtype = str(value.dtype.name if tensor else value.dtype)
    data = value.numpy() if tensor else np.asarray(value)
    if data.size > BIG or data.dtype == object:
        return {"k": "other", "type": f"{dtype} array of shape {tuple(data.shape)}"}
    if data.dtype.kind not in "biuf" or dtype == "bfloat16":
        data = data.astype(np.float32)
    arrays[key] = data
    kind = "tensor" if tensor else "scalar" if isinstance(value, np.generic) else "ndarray"
    return {"k": kind, "dtype": dtype, "key": key}


def decode_input(layout: dict, key: str, npz: Any, tensors: bool) -> Any:
    """A hidden input as the student's function gets it (a fresh copy each time)."""
    if layout["t"] == "float":
        return layout["v"]
    if layout["t"] == "dict":
        return {name: decode_input(sub, f"{key}/{i}", npz, tensors)
                for i, (name, sub) in enumerate(zip(layout["keys"], layout["v"], strict=True))}
    array = np.array(npz[key])
    if layout["t"] == "tensor" and tensors:
        import tensorflow as tf

        return tf.constant(array)
    return array


def encode_after(value: Any, layout: dict, key: str, arrays: dict) -> dict:
    """An input after the call: arrays, dicts (entries no longer arrays listed in ``bad``)."""
    if isinstance(value, dict) and layout["t"] == "dict":
        names, bad = [str(name) for name in value], []
        for i, name in enumerate(value):
            try:
                arrays[f"{key}/{i}"] = np.asarray(value[name], np.float64)
            except (TypeError, ValueError):
                bad.append(i)
        return {"t": "dict", "keys": names, "bad": bad}
    if isinstance(value, np.ndarray) and layout["t"] == "array":
        arrays[key] = value
        return {"t": "array"}
    return {"t": "same"}


class Watch:
    """Notes a library answer running while the student's function does (module docstring)."""

    def __init__(self, library: list[dict]) -> None:
        self.by_name = {(item["name"], item["file"]): item["shown"] for item in library}
        self.by_code = {(item["name"], tuple(item["names"])): item for item in library
                        if item.get("print")}
        self.objects: dict[int, str] = {}
        self.found, self.memo, self.undo = "", {}, []
        for item in library:
            module = sys.modules.get(item["module"])
            target = getattr(module, item["attr"], None) if module else None
            if target is not None and not hasattr(target, "__code__"):  # a tf.function
                self.objects[id(target)] = item["shown"]
            if target is not None:
                self._wrap(module, item["attr"], target, item["shown"])

    def _wrap(self, module: Any, attr: str, target: Callable, shown: str) -> None:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.found = self.found or shown
            return target(*args, **kwargs)

        setattr(module, attr, wrapper)
        self.undo.append((module, attr, target))

    def _which(self, code: Any) -> str:
        hit = self.memo.get(id(code))
        if hit is None:
            tail = code.co_filename.replace(os.sep, "/")
            hit = next((shown for (name, file), shown in self.by_name.items()
                        if name == code.co_name and tail.endswith(file)), "")
            item = self.by_code.get((code.co_name, code.co_names))
            if not hit and item and fingerprint(code) == item["print"]:
                hit = item["shown"]
            self.memo[id(code)] = hit
        return hit

    def hook(self, frame: Any, event: str, arg: Any) -> None:
        """The profile hook: one dictionary look-up per call once a code object is known."""
        if event != "call" or self.found:
            return
        self.found = self._which(frame.f_code)
        if not self.found and self.objects and frame.f_code.co_name == "__call__":
            self.found = self.objects.get(id(frame.f_locals.get("self")), "")

    def __enter__(self) -> Watch:
        sys.setprofile(self.hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.setprofile(None)
        for module, attr, target in self.undo:
            setattr(module, attr, target)


def fingerprint(code: Any) -> str:
    """A function's instructions and arguments (no jumps, caches) hashed: the same for a copy
    of its source compiled anywhere, whatever the compiler flags there."""
    import dis

    ops = []
    for ins in dis.get_instructions(code):
        if ins.opname in ("PUSH_NULL", "CACHE", "PRECALL", "NOP", "RESUME"):
            continue
        name = "LOAD_ATTR" if ins.opname == "LOAD_METHOD" else ins.opname
        jump = ins.opcode in dis.hasjrel or ins.opcode in dis.hasjabs
        arg = "" if jump else "<code>" if hasattr(ins.argval, "co_code") else repr(ins.argval)
        ops.append(f"{name}:{arg}")
    return hashlib.sha256("\n".join(ops).encode()).hexdigest()


def student_frames(exc: BaseException) -> str:
    """The student's own frames of a traceback (not this file's, the library's, packages')."""
    package = os.sep + "helpers" + os.sep
    kept = [f for f in traceback.extract_tb(exc.__traceback__)
            if f.filename != HARNESS_FILE and package not in f.filename
            and "site-packages" not in f.filename and not f.filename.startswith(
                sys.prefix + os.sep + "lib")]
    if not kept:
        return ""
    return "Your code's traceback (most recent call last):\n" + "".join(
        traceback.format_list(kept[-8:])).rstrip()


def attempt(fn: Callable, args: tuple, library: list[dict], watched: list) -> dict:
    """``fn(*args)`` (taped on ``watched``): its result or error, any library answer run."""
    watch, tape, total = Watch(library), None, None
    try:
        with watch:
            if watched:
                import tensorflow as tf

                with tf.GradientTape() as tape:
                    for t in watched:
                        tape.watch(t)
                    out = fn(*args)
                    total = tf.reduce_sum(tf.cast(out, tf.float32)) if tf.is_tensor(out) else None
            else:
                out = fn(*args)
    except NotImplementedError:
        return {"status": "not_implemented", "library": watch.found}
    except Exception as exc:  # the student's own error: reported, never raised here
        return {"status": "raised", "type": error_name(exc), "error": _line(exc),
                "traceback": student_frames(exc)[:4000], "library": watch.found}
    record = {"status": "ok", "library": watch.found, "out": out}
    if watched:
        record["gradient"] = "none" if total is None else _gradient(tape, total, watched)
    return record


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def kernel_raised(exc: BaseException) -> bool:
    """An error of TensorFlow's op kernels (OpError, not a shape slip's InvalidArgumentError),
    raised by TensorFlow or by the student: the judge excuses only what its own TensorFlow
    raises on a one-pixel convolution's gradient (``calling.tensorflow_limits``)."""
    errors = getattr(sys.modules.get("tensorflow"), "errors", None)
    return errors is not None and isinstance(exc, errors.OpError) and not isinstance(
        exc, errors.InvalidArgumentError)


def error_name(exc: BaseException) -> str:
    """The error's class name (module-qualified if named as a TensorFlow error it is not)."""
    tf, kind = sys.modules.get("tensorflow"), type(exc).__name__
    if tf is not None and hasattr(tf.errors, kind) and not isinstance(exc, tf.errors.OpError):
        return f"{type(exc).__module__}.{kind}"
    return kind


def _gradient(tape: Any, total: Any, watched: list) -> str:
    """As the practice check's ``gradient_of`` (kernel: an error of TensorFlow's kernels)."""
    try:
        grads = tape.gradient(total, watched)
    except LookupError:  # an operation without a gradient: none flows
        return "none"
    except Exception as exc:  # the student's custom gradient, or TensorFlow's kernels
        kind = "kernel" if kernel_raised(exc) else "raised"
        return f"{kind}:{error_name(exc)}: {_line(exc)[:200]}"
    if any(g is None for g in grads):
        return "none"
    return "ok" if all(np.all(np.isfinite(np.asarray(g))) for g in grads) else "nonfinite"


def reference_style_layer_loss(features: Any, target_gram: Any) -> Any:
    """One layer's style loss, 1/(4·N²·M²) Σ (G − A)², in place of the student's own while
    their ``style_loss`` is graded (so one mistake costs once)."""
    import tensorflow as tf

    f = tf.cast(features, tf.float32)
    n = int(f.shape[-1])
    m = int(np.prod(f.shape)) // n
    flat = tf.reshape(f, (-1, n))
    g = tf.matmul(flat, flat, transpose_a=True)
    return tf.reduce_sum(tf.square(g - tf.cast(target_gram, tf.float32))) / (4.0 * n**2 * m**2)


SUBSTITUTES = {"style_layer": reference_style_layer_loss}


def _spec(job: dict, fn: Callable, user: dict, arrays: dict) -> dict:
    """Every hidden input in turn (again with the student's own helpers if substituted)."""
    passes = [("graded", job.get("substitute", {}))]
    if passes[0][1]:
        passes.append(("own", {}))
    with np.load(job["inputs"], allow_pickle=False) as npz:
        return {name: _cases(job, fn, user, arrays, npz, name, subs) for name, subs in passes}


def _cases(job: dict, fn: Callable, user: dict, arrays: dict, npz: Any, tag: str,
           subs: dict) -> list:
    user = getattr(fn, "__globals__", user)  # where the student's function finds its helpers
    old = {name: user.get(name) for name in subs}
    user.update({name: SUBSTITUTES[which] for name, which in subs.items()})
    records = []
    try:
        for i, layouts in enumerate(job["cases"]):
            args = tuple(decode_input(lay, f"c{i}/a{j}", npz, job["tensors"])
                         for j, lay in enumerate(layouts))
            watched = [] if not job["tensors"] else (
                list(args[0].values()) if isinstance(args[0], dict) else [args[0]])
            record = attempt(fn, args, job["library"], watched if job["watch"] else [])
            if record["status"] == "ok":
                record["out"] = encode(record["out"], f"{tag}/c{i}/out", arrays)
            record["after"] = [encode_after(a, lay, f"{tag}/c{i}/after{j}", arrays)
                               for j, (a, lay) in enumerate(zip(args, layouts, strict=True))]
            records.append(record)
            if record["status"] != "ok":  # the judge stops at the first failing input
                break
    finally:
        user.update({name: value for name, value in old.items() if value is not None})
    return records


def _probe(fn: Callable, x: np.ndarray, tag: str, arrays: dict) -> dict:
    record = attempt(fn, (x.copy(),), [], [])
    if record["status"] == "ok":
        record["out"] = encode(record["out"], tag, arrays)
    return record


def _lbfgs(job: dict, maker: Callable, user: dict, arrays: dict) -> dict:
    """make_loss_and_grad on the hidden bowl: its function at the grader's points, an L-BFGS-B
    run from zero, the points that test a fixed scale; what loss_fn was handed."""
    import tensorflow as tf
    from scipy.optimize import fmin_l_bfgs_b

    with np.load(job["inputs"], allow_pickle=False) as npz:
        weight, target = npz["weight"], npz["target"]
        points, others = list(npz["points"]), list(npz["others"])
    w, t = tf.constant(weight, tf.float32), tf.constant(target, tf.float32)
    seen: set[str] = set()  # the dtypes loss_fn was handed (the notebook's losses take float32)
    shapes: dict = {}  # and the shapes (the notebook's network takes `shape`, batch axis first)

    def loss_fn(x: Any) -> Any:
        seen.add(getattr(getattr(x, "dtype", None), "name", str(getattr(x, "dtype", ""))))
        shapes[str(np.shape(x))[:80]] = None  # "(1, 5, 7, 3)", "(None, 5, 7, 3)", "<unknown>"
        return tf.reduce_sum(w * tf.square(tf.cast(x, tf.float32) - t))

    made = attempt(maker, (loss_fn, tuple(weight.shape)), job["library"], [])
    fn = made.pop("out", None)
    result = {"make": {**made, "callable": callable(fn)}, "calls": []}
    if not callable(fn):
        return result
    calls = result["calls"]
    for i in (0, 1):
        calls.append(_probe(fn, points[i], f"p{i}", arrays))
    try:
        best, _, info = fmin_l_bfgs_b(fn, np.zeros(weight.size), maxiter=200)
        arrays["best"] = np.asarray(best, np.float64)
        result["fmin"] = {"status": "ok", "warnflag": int(info["warnflag"]),
                          "task": str(info["task"])[:200], "nit": int(info["nit"])}
    except Exception as exc:
        result["fmin"] = {"status": "raised", "type": error_name(exc), "error": _line(exc),
                          "traceback": student_frames(exc)[:4000]}
    calls.append(_probe(fn, points[2], "p2", arrays))
    for i, x in enumerate(others):
        calls.append(_probe(fn, x, f"o{i}", arrays))
    result["input_dtypes"] = sorted(seen)[:8]
    result["input_shapes"] = list(shapes)[:8]
    return result


def _look(job: dict, fn: Any, user: dict, arrays: dict) -> dict:
    """The student's settings (their function's result, or the value itself) as JSON."""
    record = attempt(fn, (), [], []) if callable(fn) else {"status": "ok", "out": fn}
    value = record.pop("out", None)
    if record["status"] == "ok":
        if isinstance(value, dict):
            record["settings"] = json.loads(json.dumps(
                {str(k): v for k, v in value.items()}, default=_plain))
        else:
            record["type"] = type(value).__name__
    return record


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


KINDS = {"spec": _spec, "lbfgs": _lbfgs, "look": _look}


def main(job_file: str, user: dict, output: str) -> None:
    """Answer the grader's job (a JSON file): call the student's function named there, in
    namespace ``user``; write ``output``.npz, then ``output``.json (a name for this cell)."""
    with open(job_file, "rb") as f:
        job = json.loads(f.read())
    arrays: dict = {}
    fn = user.get(job["function"])
    if fn is None or (job["kind"] != "look" and not callable(fn)):
        result = {"missing": True, "type": type(fn).__name__}
    else:
        result = KINDS[job["kind"]](job, fn, user, arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _put(output + ".npz", buffer.getvalue())
    result = json.loads(json.dumps(result, default=_plain))
    result["npz_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    _put(output + ".json", json.dumps(result).encode())  # last: done
    _show({"nst_answer": output, "record": result})


def _show(answer: dict) -> None:
    """The record as this cell's output too: the grader prefers it to a file (rewritable)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # not in a kernel (the tests call this directly)
        return
    if get_ipython() is not None:
        display({"application/json": answer}, raw=True)


def _put(name: str, data: bytes) -> None:
    """Write a new file in the (kernel's, :func:`helpers.exercises.jail.build`) folder."""
    try:  # whatever the notebook put there first (a pipe, a link, a forged answer) goes
        os.unlink(name)
    except FileNotFoundError:
        pass
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
