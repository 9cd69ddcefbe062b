"""Checks ``preprocess`` and ``deprocess`` of notebooks/exercises/ex01_preprocess.ipynb."""

from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np

from helpers.exercises._engine import (
    Answer,
    Case,
    CheckFailed,
    Spec,
    answer_here,
    changed_input,
    hidden_cases,
    judge_spec,
    rng,
    type_problem,
)
from helpers.exercises.mutations import Mutations, Op, float16

_MEAN_TEXT = "[103.939, 116.779, 123.68] (B, G, R)"


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
    return [*cases, Case((photo,), {}, f"a crop of a real photo, {photo.shape[0]}x"
                         f"{photo.shape[1]}", real=True)]


def _preprocess_ref(img: np.ndarray) -> np.ndarray:
    from helpers.images import preprocess

    return preprocess(img)


def _library_preprocess() -> Callable:
    from helpers.images import preprocess

    return preprocess


def mean() -> np.ndarray:
    """The ImageNet mean in B, G, R order, float64."""
    from helpers.images import IMAGENET_MEAN_BGR

    return IMAGENET_MEAN_BGR.astype(np.float64)


def _batch(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64)[None]


def _preprocess_shape(got: tuple, expected: tuple, case: Case) -> str | None:
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
    if np.all(np.abs(shift) <= 1.0):
        how = (" (a rounded mean, or the result rounded to whole numbers: the same numbers "
               "here)" if np.allclose(used, np.round(used), atol=1e-3) else "")
        return (f"your mean is not exact: you subtracted [{shown}]{how}; use {_MEAN_TEXT} to "
                "the last digit (a rounded mean shifts every pixel of every image)")
    return f"you subtracted [{shown}] from the B, G, R channels; the ImageNet mean is {_MEAN_TEXT}"


#: torchvision's normalisation: RGB means and standard deviations of 0..1 images.
TORCH_MEAN, TORCH_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
_ORDERS = {"bgr": [2, 1, 0], "rgb": [0, 1, 2], "roll": [1, 2, 0], "roll_back": [2, 0, 1],
           "swap_rg": [1, 0, 2], "swap_gb": [0, 2, 1]}


def preprocess_program(img: np.ndarray, order: str = "bgr", centre: str = "imagenet",
                       scale: str = "none", arith: str = "float", mean_order: str = "bgr",
                       clip: str = "none") -> np.ndarray:
    """Preprocessing with knobs (the reference: channels reversed, the ImageNet mean in
    B, G, R order subtracted, 0..255 kept, float arithmetic). uint8 arithmetic wraps only
    on a uint8 image (a float one only loses the mean's decimals)."""
    wraps = np.asarray(img).dtype == np.uint8
    x = np.asarray(img, np.float64)[..., _ORDERS[order]]
    x = np.mod(x + 128, 256) - 128 if arith == "int8" else x  # 128 … 255 wrap to −128 … −1
    if centre == "torch":  # the whole of torchvision's formula, RGB
        return _batch((np.asarray(img, np.float64) / 255 - TORCH_MEAN) / TORCH_STD)
    if centre == "tf":  # keras' "tf" mode: -1..1
        return _batch(x / 127.5 - 1)
    x = x / 255 if scale == "before" else x
    bgr = mean() if mean_order == "bgr" else mean()[::-1]
    mu = {"imagenet": bgr, "own": x.mean(axis=(0, 1)), "own_all": x.mean(),
          "none": 0.0, "added": -bgr}[centre]
    if arith == "float16":  # image and mean rounded to float16, and their difference
        x, mu = float16(x), float16(mu)
    if arith in ("uint8", "uint8_round"):  # image minus a uint8 mean: uint8 wraps mod 256
        y = x - (np.trunc(mu) if arith == "uint8" else np.round(mu))
        return _batch(np.mod(y, 256) if wraps else y)
    y = float16(x - mu) if arith in ("float16", "float16_result") else x - mu
    y = {"after": lambda: y / 255, "std": lambda: y / np.std(x)}.get(scale, lambda: y)()
    y = {"int": np.trunc(y), "cast_uint8": np.mod(np.trunc(y), 256)}.get(arith, y)
    return _batch(np.clip(y, 0, 255) if clip == "0_255" else y)


_IMAGENET = f"VGG subtracts the fixed ImageNet mean {_MEAN_TEXT} from every image"

PREPROCESS_OPS = [
    Op("order", "rgb", "channel order", "RGB kept", "your channels are still in RGB order: "
       "reverse the last axis, x[..., ::-1]"),
    Op("order", "roll", "channel order", "channels rotated", "you rotated the channels "
       "(np.roll or x[..., [1, 2, 0]]) instead of reversing them: B, G, R is x[..., ::-1]"),
    Op("order", "roll_back", "channel order", "channels rotated the other way", "you "
       "rotated the channels (np.roll or x[..., [2, 0, 1]]) instead of reversing them: "
       "B, G, R is x[..., ::-1]"),
    Op("order", "swap_rg", "channel order", "R and G swapped", "you swapped R and G "
       "(x[..., [1, 0, 2]]) instead of reversing all three channels: B, G, R is x[..., ::-1]"),
    Op("order", "swap_gb", "channel order", "G and B swapped", "you swapped G and B "
       "(x[..., [0, 2, 1]]) instead of reversing all three channels: B, G, R is x[..., ::-1]"),
    Op("centre", "own", "normalisation", "the image's own mean per channel", "you subtracted "
       f"the image's own mean per channel; {_IMAGENET}"),
    Op("centre", "own_all", "normalisation", "the image's own mean (one number)", "you "
       f"subtracted the image's own mean; {_IMAGENET}"),
    Op("centre", "torch", "normalisation", "PyTorch's normalisation", "that is PyTorch's "
       "(torchvision's) normalisation, (x/255 − [0.485, 0.456, 0.406]) / [0.229, 0.224, "
       "0.225] in RGB; this VGG is the caffe model: BGR order minus the ImageNet mean, "
       "in 0..255"),
    Op("centre", "tf", "normalisation", "'tf' mode, x/127.5 − 1", "that is the 'tf' "
       "preprocessing (pixels scaled to −1..1); VGG wants 'caffe': BGR minus the ImageNet "
       "mean, no scaling"),
    Op("centre", "none", "normalisation", "no mean", "you did not subtract the ImageNet "
       f"mean {_MEAN_TEXT}"),
    Op("centre", "added", "normalisation", "mean added", "you added the mean; subtract it"),
    Op("scale", "before", "scale", "÷255 first", "you scaled the pixels to 0..1; caffe "
       "preprocessing keeps 0..255"),
    Op("scale", "std", "scale", "÷ the image's standard deviation", "you divided by the "
       "image's standard deviation; caffe preprocessing only subtracts the mean, in 0..255"),
    Op("scale", "after", "scale", "÷255 after", "you divided by 255 after subtracting the "
       "mean; caffe preprocessing keeps 0..255"),
    Op("arith", "uint8", "dtype", "uint8 arithmetic (wraps)", "your subtraction ran in "
       "uint8 arithmetic (a uint8 image minus a uint8 mean): results below 0 wrap around "
       "(3 − 103 gives 156) and the mean lost its decimals; convert first, "
       "x.astype(np.float32)"),
    Op("arith", "uint8_round", "dtype", "uint8 arithmetic, mean rounded (wraps)", "your "
       "subtraction ran in uint8 arithmetic (a uint8 image minus the mean rounded to uint8, "
       "[104, 117, 124]): results below 0 wrap around (3 − 104 gives 155) and the mean lost "
       "its decimals; convert the image first, x.astype(np.float32), and subtract the exact "
       "mean"),
    Op("mean_order", "rgb", "channel order", "mean in RGB order", "you subtracted the mean "
       "in RGB order: [103.939, 116.779, 123.68] are the B, G, R means, so subtract them "
       "after reversing the channels"),
    Op("clip", "0_255", "range", "clipped to 0..255", "you clipped the result to 0..255: a "
       "preprocessed value is below 0 wherever a channel is darker than its mean (103.939 "
       "for blue), and the network needs those values; clip only when deprocessing"),
    Op("arith", "float16", "dtype", "float16 arithmetic", "you computed in float16: it keeps "
       "about 3 significant digits (123.68 becomes 123.7, 151.06 becomes 151.0), so every "
       "value is off by up to 0.06; compute in float32 and return float32", rtol=1e-6),
    Op("arith", "float16_result", "dtype", "result rounded to float16", "your result is "
       "float16, or was rounded to float16 on the way: it keeps about 3 significant digits "
       "(123.68 becomes 123.7), so every value is off by up to 0.06; return float32 "
       "(.astype(np.float32))", rtol=1e-6),
    Op("arith", "int8", "dtype", "int8 image (wraps)", "you converted the image to int8, "
       "which holds −128 … 127: grey levels from 128 up wrap around to negative values (200 "
       "becomes −56); convert to float32, x.astype(np.float32)"),
    Op("arith", "int", "dtype", "int cast (decimals cut)", "you converted to integers: the "
       "mean's decimals are cut off (… − 103.939 must stay fractional); keep float32"),
    Op("arith", "cast_uint8", "dtype", "uint8 cast of the result (wraps)", "you converted "
       "the result to uint8: values below 0 wrap around (−3 becomes 253) and the decimals "
       "are lost; the preprocessed image is float32, with values below 0"),
]

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
    return cases


def _deprocess_ref(x: np.ndarray) -> np.ndarray:
    from helpers.images import deprocess

    return deprocess(x)


def _library_deprocess() -> Callable:
    from helpers.images import deprocess

    return deprocess


def _unbatched(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64).reshape(np.shape(x)[-3:])


def _as_image(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb), 0, 255)


def _deprocess_shape(got: tuple, expected: tuple, case: Case) -> str | None:
    if got == (1, *expected):
        return (f"your result has shape {got}: an image is (H, W, 3), so drop the batch axis "
                "(x[0] or x.reshape(x.shape[-3:]))")
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
            raise CheckFailed(name, (
                "values outside 0..255 come out wrong (e.g. -20 should become 0, 300 "
                "should become 255, but .astype(np.uint8) wraps them around): clip with "
                "np.clip(x, 0, 255) before converting"))


def run_deprocess(name: str, answer: Callable) -> None:
    """Deprocess needs its own first steps (uint8, clipping), then the generic check."""
    cases = hidden_cases(name, DEPROCESS)
    answers = []
    for case in cases:
        answers.append(answer_here(name, DEPROCESS, answer, case))
        deprocess_steps(name, case, answers[-1])
    print(judge_spec(name, DEPROCESS, cases, answers))


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


def deprocess_program(x: np.ndarray, cast: str = "late", centre: str = "imagenet",
                      order: str = "rgb", mean_order: str = "bgr", scale: str = "none"
                      ) -> np.ndarray:
    """Deprocessing with knobs (the reference: the ImageNet mean added in float, channels
    reversed, rounded, clipped, converted to uint8 last)."""
    x = _unbatched(x) * (255.0 if scale == "times255" else 1.0)
    mu = mean() if mean_order == "bgr" else mean()[::-1]
    x = np.mod(np.trunc(x), 256) if cast == "early" else x
    if centre == "uint8":  # uint8 + uint8: wraps modulo 256
        v = np.mod(np.mod(np.trunc(x), 256) + np.trunc(mu), 256)
    else:
        v = {"imagenet": lambda: x + mu, "tf": lambda: (x + 1) * 127.5,
             "torch": lambda: (x * TORCH_STD + TORCH_MEAN) * 255,
             "none": lambda: x, "subtracted": lambda: x - mu}[centre]()
    rgb = v[..., {"rgb": [2, 1, 0], "bgr": [0, 1, 2], "roll": [1, 2, 0]}[order]]
    if cast == "wrap":  # .astype(np.uint8) without clipping: wraps modulo 256
        return np.mod(np.trunc(rgb), 256)
    return np.clip(np.ceil(rgb), 0, 255) if cast == "ceil" else _as_image(rgb)


DEPROCESS_OPS = [
    Op("order", "bgr", "channel order", "BGR kept", "your channels come out in BGR order: "
       "reverse the last axis after adding the mean"),
    Op("order", "roll", "channel order", "channels rotated", "you rotated the channels "
       "(np.roll) instead of reversing them: R, G, B is x[..., ::-1]"),
    Op("cast", "early", "dtype", "uint8 cast first (wraps)", "you converted to uint8 before "
       "adding the mean: the network's values are centred on 0, so negative ones wrap "
       "around (−20 becomes 236) and the decimals are lost; add the mean, round and clip, "
       "and convert last"),
    Op("cast", "wrap", "dtype", "uint8 without clipping (wraps)", "values outside 0..255 "
       "wrap around (.astype(np.uint8) turns 300 into 44 and −20 into 236): clip with "
       "np.clip(x, 0, 255) before converting"),
    Op("cast", "ceil", "rounding", "rounded up (np.ceil)", "you rounded up (np.ceil); round "
       "to the nearest grey level, np.rint"),
    Op("centre", "uint8", "dtype", "uint8 arithmetic (wraps)", "you added the mean in "
       "uint8 arithmetic: sums past 255 wrap around (200 + 104 gives 48); add in float, "
       "then round, clip and convert"),
    Op("centre", "tf", "normalisation", "'tf' undone, (x + 1)·127.5", "you undid the 'tf' "
       "preprocessing, (x + 1) · 127.5; this VGG's is caffe: add the ImageNet mean "
       f"{_MEAN_TEXT} back, then reverse the channels"),
    Op("centre", "torch", "normalisation", "PyTorch's undone", "you undid PyTorch's "
       "normalisation, (x · std + mean) · 255; this VGG's is caffe: add the ImageNet mean "
       f"{_MEAN_TEXT} back, then reverse the channels"),
    Op("centre", "none", "normalisation", "no mean", "you did not add the ImageNet mean "
       "back"),
    Op("centre", "subtracted", "normalisation", "mean subtracted again", "you subtracted "
       "the mean again; deprocessing adds it back"),
    Op("mean_order", "rgb", "channel order", "mean in RGB order", "you added the mean in "
       "RGB order: [103.939, 116.779, 123.68] are the B, G, R means, so add them while the "
       "channels are still B, G, R, then reverse the channels"),
    Op("scale", "times255", "scale", "× 255 first", "you multiplied by 255 first: the "
       "network's values are already in grey levels (0..255 minus the mean); add the mean "
       "back without scaling"),
]

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
)
