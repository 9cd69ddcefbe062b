"""Checks ``preprocess`` and ``deprocess`` of notebooks/exercises/ex01_preprocess.ipynb: the
hidden inputs, the hand-written known mistakes, the shape hints and deprocess's own first
steps; the mutation operators are in :mod:`helpers.exercises.ex01_mistakes`."""

from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np

from helpers.exercises._engine import (
    Answer,
    Case,
    CheckFailed,
    Spec,
    changed_input,
    rng,
    run_spec,
    type_problem,
)
from helpers.exercises.ex01_mistakes import (  # noqa: F401  (importable from here, as before)
    _MEAN_TEXT,
    DEPROCESS_OPS,
    PREPROCESS_OPS,
    TORCH_MEAN,
    TORCH_STD,
    _as_image,
    _batch,
    _unbatched,
    deprocess_program,
    mean,
    preprocess_program,
)
from helpers.exercises.mutations import Mutations


def _image_cases() -> list[Case]:
    gen = rng(1)
    cases = []
    for h, w in [(5, 7), (8, 6), (4, 9)]:
        img = gen.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img[0, 0], img[-1, -1] = 0, 255
        cases.append(Case((img,), {}, f"a hidden {h}x{w} RGB image"))
    # float32 as well: images.load_image gives uint8, but a float32 image (0..255) is what
    # np.asarray(image, dtype=np.float32) does NOT copy, so changing it in place shows there
    img = gen.integers(0, 256, (6, 5, 3)).astype(np.float32)
    cases.append(Case((img,), {}, "a hidden 6x5 RGB image in float32 (0..255)"))
    from helpers.exercises.real_inputs import real

    photo = real("photo_image")
    cases.append(Case((photo,), {}, f"a crop of a real photo, {photo.shape[0]}x"
                      f"{photo.shape[1]}", real=True))
    # degenerate shapes last (a shape mistake is named on an ordinary image first): one
    # pixel high, one pixel wide, every grey level's extremes
    for h, w in [(1, 7), (6, 1)]:
        img = gen.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img.reshape(-1)[:2] = 0, 255
        what = "one pixel high" if h == 1 else "one pixel wide"
        cases.append(Case((img,), {}, f"a hidden {h}x{w} RGB image ({what})", thin=True))
    return cases


def _preprocess_ref(img: np.ndarray) -> np.ndarray:
    from helpers.images import preprocess

    return preprocess(img)


def _library_preprocess() -> Callable:
    from helpers.images import preprocess

    return preprocess


def _preprocess_shape(got: tuple, expected: tuple, case: Case) -> str | None:
    if 1 in expected[1:3] and len(got) < len(expected) and [s for s in got if s != 1] == [
            s for s in expected if s != 1]:  # ordinary images passed: a squeeze
        return (f"your result has shape {got} for {case.label}, where it should be "
                f"{expected}: np.squeeze / tf.squeeze drop EVERY axis of length 1, so an "
                "image one pixel high or wide loses its own axis too; add only the batch "
                "axis, x[None], and leave the image's own axes as they are")
    if got == expected[1:]:
        return (f"your result has shape {got}: the network takes a batch, so add the batch "
                f"axis in front, {expected} (x[None] or np.expand_dims(x, 0))")
    if got == (1, expected[2], expected[1], 3):
        return (f"your result has shape {got}: height and width are swapped (np.transpose "
                f"or .T moves every axis); keep the image's own (1, H, W, 3) = {expected}")
    if got == (*expected[1:], 1):
        return (f"your result has shape {got}: you added the new axis at the end (x[..., None] "
                f"or np.expand_dims(x, -1)); the batch axis goes in front, {expected} (x[None])")
    if got == (1, 3, *expected[1:3]) or got == (3, *expected[1:3]):
        return (f"your result has shape {got}, channels first; Keras wants channels last, "
                f"{expected}")
    return None


_FLIPS = {"the rows (upside down)": (slice(None, None, -1),),
          "the columns (mirrored)": (slice(None), slice(None, None, -1)),
          "the rows and the columns": (slice(None, None, -1), slice(None, None, -1))}


def _flip_candidates(make: Callable[[np.ndarray, tuple], np.ndarray], verb: str
                     ) -> list[tuple[str, Callable]]:
    """One candidate per wrong flip: an image axis reversed, with or without the channels."""
    out = []
    for what, index in _FLIPS.items():
        for channels in (True, False):
            how = "as well as" if channels else "instead of"
            message = (f"you reversed {what} {how} the channels: only the channel axis is "
                       f"reversed, x[..., ::-1] (np.flip(x) without axis= flips every axis; "
                       f"x[::-1] flips the rows) {verb}")
            out.append((message, lambda a, i=index, c=channels: make(a, i + ((Ellipsis,
                        slice(None, None, -1)) if c else ()))))
    return out


def _preprocess_flip(img: np.ndarray, index: tuple) -> np.ndarray:
    return _batch(np.asarray(img, np.float64)[index]) - mean()


def _mean_offset(outs: list, refs: list, cases: list) -> str | None:
    """A preprocessed image off by the same amount per channel everywhere: the mean
    subtracted was some other vector; say which (rounded, or in another order)."""
    diffs = [(o - r).reshape(-1, 3) for o, r in zip(outs, refs, strict=True)]
    shift = diffs[0][0]
    if not all(np.allclose(d, shift, atol=1e-3) for d in diffs):
        return None
    used = mean() - shift  # the B, G, R vector the student subtracted
    shown = ", ".join(f"{v:g}" for v in np.round(used, 3))
    if np.allclose(np.sort(used), np.sort(mean()), atol=1e-2):
        order = "".join("BGR"[int(np.argmin(np.abs(mean() - v)))] for v in used)
        return (f"you subtracted the right three means in the wrong order (the B, G, R "
                f"channels got the {order[0]}, {order[1]}, {order[2]} means): subtract "
                f"{_MEAN_TEXT} after reversing the channels")
    if np.allclose(used, np.round(mean()), atol=1e-3):  # the result rounded, or the mean
        return (f"your values are whole numbers: each is the right one rounded (off by "
                f"[{', '.join(f'{v:g}' for v in np.round(shift, 3))}] in B, G, R "
                f"everywhere). Either your mean is not exact: you subtracted [{shown}], a "
                "rounded mean; or you rounded the result (np.round, np.rint, an integer "
                "cast): for whole-number pixels the two give the same numbers. A preprocessed "
                f"image keeps its decimals: subtract {_MEAN_TEXT} exactly and do not round")
    if np.all(np.abs(shift) <= 1.0):
        return (f"your mean is not exact: you subtracted [{shown}]; use {_MEAN_TEXT} to "
                "the last digit (a rounded mean shifts every pixel of every image)")
    return f"you subtracted [{shown}] from the B, G, R channels; the ImageNet mean is {_MEAN_TEXT}"


def _channels(names: str) -> Callable[[list, list, list], str | None]:
    """An observation for images: which of the three channels (``names``, in the result's
    order) come out right on every hidden input, when some do and some do not."""
    def observe(outs: list, refs: list, cases: list) -> str | None:
        good = [True, True, True]
        for out, ref in zip(outs, refs, strict=True):
            if np.shape(out) != np.shape(ref) or np.shape(ref)[-1] != 3:
                return None
            o, r = np.asarray(out, np.float64), np.asarray(ref, np.float64)
            off = np.abs(o - r).reshape(-1, 3).max(axis=0, initial=0)
            good = [g and bool(e <= max(1e-3 * np.abs(r).max(), 1.0)) for g, e in
                    zip(good, off, strict=True)]
        right = [n for n, g in zip(names.split(", "), good, strict=True) if g]
        wrong = [n for n, g in zip(names.split(", "), good, strict=True) if not g]
        if not right or not wrong:
            return None
        return (f"your {' and '.join(right)} channel{'s' if len(right) > 1 else ''} come out "
                f"right, your {' and '.join(wrong)} channel{'s' if len(wrong) > 1 else ''} "
                "not: look at what your code does per channel — an index, the order of the "
                "three means, a channel swapped or left out")
    return observe


PREPROCESS = Spec(
    what="the preprocessed image",
    cases=_image_cases,
    reference=_preprocess_ref,
    returns="array",
    candidates=[
        ("your channels are still in RGB order: the network was trained on BGR images, so "
         "reverse the last axis (x[..., ::-1]) before subtracting the mean",
         lambda img: _batch(img) - mean()),
        ("you subtracted the right mean from each colour but never reversed the channels: the "
         "network expects them in B, G, R order, x[..., ::-1], minus " + _MEAN_TEXT,
         lambda img: _batch(img) - mean()[::-1]),
        ("you reversed the channels to BGR but did not subtract the ImageNet mean "
         + _MEAN_TEXT, lambda img: _batch(img)[..., ::-1]),
        ("you neither reversed the channels nor subtracted the mean: the network expects BGR "
         "minus the ImageNet mean", lambda img: _batch(img)),
        ("you added the mean; subtract it", lambda img: _batch(img)[..., ::-1] + mean()),
        ("you subtracted the mean in RGB order: [103.939, 116.779, 123.68] are the B, G, R "
         "means, so subtract them after reversing the channels",
         lambda img: _batch(img)[..., ::-1] - mean()[::-1]),
        ("you scaled the pixels to 0..1 first; 'caffe' preprocessing keeps 0..255",
         lambda img: _batch(img)[..., ::-1] / 255.0 - mean()),
        ("that is the 'tf' preprocessing (pixels scaled to -1..1); VGG wants 'caffe': BGR "
         "minus the ImageNet mean, no scaling", lambda img: _batch(img) / 127.5 - 1.0),
        *_flip_candidates(_preprocess_flip, "before subtracting the mean"),
    ],
    shape_hint=_preprocess_shape,
    success="BGR order, ImageNet mean subtracted, batch axis added",
    library=_library_preprocess,
    diagnose=_mean_offset,
    mutations=Mutations(preprocess_program, PREPROCESS_OPS, scaled=False),
    observe=_channels("B, G, R"),
    dtypes=("float32",),  # the notebook asks for float32
    rtol=1e-5,  # float32 arithmetic is exact to 1e-7 here; float16's 3 digits are not
)


# ------------------------------------------------------------------------------ deprocess

def _deprocess_cases() -> list[Case]:
    gen = rng(2)
    cases = []
    for h, w in [(6, 5), (4, 8), (7, 7)]:
        x = gen.uniform(-160.0, 170.0, (1, h, w, 3)).astype(np.float32)  # some out of range
        cases.append(Case((x,), {}, f"a hidden preprocessed image of shape {x.shape}"))
    # an image after a long run without bounds: values far outside 0..255 (past int16's
    # ±32767, one past int32's 2³¹), which only clipping in float survives
    x = gen.uniform(-160.0, 170.0, (1, 5, 6, 3)).astype(np.float32)
    far = x.reshape(-1)[::4]  # a view: every fourth value
    far[:] = gen.choice([-1, 1], far.size) * gen.uniform(4e4, 2e5, far.size)
    x[0, 0, 0], x[0, -1, -1] = 3e9, -3e9
    cases.append(Case((x,), {}, "a hidden image in network units after a long run, shape "
                      f"{x.shape}, values up to ±3e9"))
    for shape in [(1, 1, 7, 3), (1, 6, 1, 3)]:  # one pixel high, one pixel wide
        x = gen.uniform(-160.0, 170.0, shape).astype(np.float32)
        cases.append(Case((x,), {}, f"a hidden preprocessed image of shape {shape}, one "
                          f"pixel {'high' if shape[1] == 1 else 'wide'}", thin=True))
    return cases


def _deprocess_ref(x: np.ndarray) -> np.ndarray:
    from helpers.images import deprocess

    return deprocess(x)


def _library_deprocess() -> Callable:
    from helpers.images import deprocess

    return deprocess


def _deprocess_shape(got: tuple, expected: tuple, case: Case) -> str | None:
    if got == (1, *expected):
        return (f"your result has shape {got}: an image is (H, W, 3), so drop the batch axis "
                "(x[0] or x.reshape(x.shape[-3:]))")
    if len(got) < len(expected) and [s for s in got if s != 1] == [
            s for s in expected if s != 1]:
        return (f"your result has shape {got} for {case.label}, where the image is "
                f"{expected}: np.squeeze / tf.squeeze drop EVERY axis of length 1, so an "
                "image one pixel high or wide loses its own axis too; drop only the batch "
                "axis, x[0]")
    return None


def deprocess_steps(name: str, case: Case, given: Answer) -> None:
    """uint8, and out-of-range values clipped: checked before the values."""
    out = given.out
    problem = changed_input(case.args, given.after) or type_problem(DEPROCESS, out)
    if problem:
        raise CheckFailed(name, problem)
    ref = _deprocess_ref(*case.args)
    if out.shape == ref.shape and out.dtype != np.uint8:
        raise CheckFailed(name, (
            f"your result is {out.dtype}; an RGB image is uint8 in 0..255: round "
            "(np.rint), clip (np.clip(x, 0, 255)), then .astype(np.uint8)"))
    if out.shape == ref.shape:
        raw = (_unbatched(case.args[0]) + mean())[..., ::-1]
        outside = (raw < -0.5) | (raw > 255.5)
        wrong = np.abs(out.astype(np.int64) - ref.astype(np.int64)) > 1
        if wrong.any() and not (wrong & ~outside).any():
            far = _far_outside(raw, wrong)
            if far:
                raise CheckFailed(name, far)
            if not _wrapped(out, raw, wrong):
                return  # some other treatment of those values: the search names it
            raise CheckFailed(name, (
                "values outside 0..255 come out wrong (e.g. -20 should become 0, 300 "
                "should become 255, but .astype(np.uint8) wraps them around): clip with "
                "np.clip(x, 0, 255) before converting"))


_SMALL_INT = ("values far outside 0..255 come out wrong (an image in network units after a "
              "long run can hold {}), where those just outside come out right: you "
              "converted to {} before clipping, and it wraps such values around; clip in "
              "float first (np.clip(x, 0, 255)), then convert to uint8")


def _wrapped(out: np.ndarray, raw: np.ndarray, wrong: np.ndarray) -> bool:
    """Whether the wrong values are the right ones wrapped around modulo 256 (rounded or
    cut), as a uint8 conversion without clipping leaves them."""
    got = out.astype(np.float64)[wrong]
    near = [np.mod(f(raw[wrong]), 256) for f in (np.rint, np.trunc, np.floor)]
    return bool(np.all(np.min([np.abs(got - n) for n in near], axis=0) <= 1))


def _far_outside(raw: np.ndarray, wrong: np.ndarray) -> str | None:
    """A deprocess wrong only where the value is beyond int16's (or int32's) range: a
    conversion to that type before clipping; None otherwise."""
    for limit, shown, kind in ((2.0**31, "±3e9", "int32 (which stops at ±2³¹)"),
                               (32767.5, "±40000", "int16 (which stops at ±32767) or "
                                                   "another small integer type")):
        if not (wrong & (np.abs(raw) < limit)).any():
            return _SMALL_INT.format(shown, kind)
    return None


def run_deprocess(name: str, answer: Callable) -> None:
    """Deprocess needs its own first steps (uint8, clipping), then the generic check."""
    run_spec(name, DEPROCESS, answer, first=deprocess_steps)


def _deprocess_flip(x: Any, index: tuple) -> np.ndarray:
    return _as_image((_unbatched(x) + mean())[index])


def _mean_orders() -> list[tuple[str, Callable]]:
    """Deprocess with the mean rounded, or its three values in another order."""
    out = [("your mean is rounded: add back exactly " + _MEAN_TEXT,
            lambda x: _as_image((_unbatched(x) + np.round(mean()))[..., ::-1]))]
    for order in itertools.permutations(range(3)):
        if order in ((0, 1, 2), (2, 1, 0)):  # right, and the RGB order (its own message)
            continue
        names = "".join("BGR"[i] for i in order)
        out.append((f"you added the right three means in the wrong order (the B, G, R "
                    f"channels got the {', '.join(names)} means): add {_MEAN_TEXT} before "
                    "reversing the channels",
                    lambda x, o=order: _as_image((_unbatched(x) + mean()[list(o)])[..., ::-1])))
    return out


DEPROCESS = Spec(
    what="the deprocessed image",
    cases=_deprocess_cases,
    reference=_deprocess_ref,
    returns="array",
    candidates=[
        ("you truncate instead of rounding (.astype(np.uint8) turns 254.7 into 254): round "
         "with np.rint first",
         lambda x: np.clip(np.floor((_unbatched(x) + mean())[..., ::-1]), 0, 255)),
        ("your channels come out in BGR order: reverse the last axis (x[..., ::-1]) after "
         "adding the mean", lambda x: _as_image(_unbatched(x) + mean())),
        ("you reversed the channels but did not add the ImageNet mean back",
         lambda x: _as_image(_unbatched(x)[..., ::-1])),
        ("you subtracted the mean again; deprocessing adds it back",
         lambda x: _as_image((_unbatched(x) - mean())[..., ::-1])),
        ("you added the mean in RGB order: [103.939, 116.779, 123.68] are the B, G, R means, "
         "so add them before reversing the channels",
         lambda x: _as_image(_unbatched(x)[..., ::-1] + mean())),
        ("you clipped before adding the mean back: the network's values are centred on 0, "
         "so clip to 0..255 only at the end, after adding the mean",
         lambda x: _as_image((np.clip(_unbatched(x), 0, 255) + mean())[..., ::-1])),
        *_mean_orders(),
        *_flip_candidates(_deprocess_flip, "after adding the mean"),
    ],
    shape_hint=_deprocess_shape,
    success="mean added back, RGB order, rounded and clipped to uint8",
    exact=True,
    library=_library_deprocess,
    mutations=Mutations(deprocess_program, DEPROCESS_OPS, scaled=False),
    observe=_channels("R, G, B"),
)
