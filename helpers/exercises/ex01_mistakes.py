"""The known mistakes of ``preprocess`` and ``deprocess``
(notebooks/exercises/ex01_preprocess.ipynb) as mutation operators: each function written
with knobs (:func:`preprocess_program`, :func:`deprocess_program`) and its table of
:class:`~helpers.exercises.mutations.Op` (what to turn, and what a student who did it is
told); and the numbers they share with the checks of :mod:`helpers.exercises.ex01_preprocess`
(the ImageNet mean)."""

from __future__ import annotations

import numpy as np

from helpers.exercises.mutations import Op, float16

_MEAN_TEXT = "[103.939, 116.779, 123.68] (B, G, R)"


def mean() -> np.ndarray:
    """The ImageNet mean in B, G, R order, float64."""
    from helpers.images import IMAGENET_MEAN_BGR

    return IMAGENET_MEAN_BGR.astype(np.float64)


def _batch(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64)[None]


def _unbatched(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64).reshape(np.shape(x)[-3:])


def _as_image(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb), 0, 255)


#: torchvision's normalisation: RGB means and standard deviations of 0..1 images.
TORCH_MEAN, TORCH_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
#: ImageNet's standard deviations in 0..255, B, G, R (torchvision's × 255).
STD = np.array([57.375, 57.12, 58.395])
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
    x = x / 255 if scale == "before" else x * 255 if scale == "times255" else x
    bgr = mean() if mean_order == "bgr" else mean()[::-1]
    mu = {"imagenet": bgr, "own": x.mean(axis=(0, 1)), "own_all": x.mean(),
          "none": 0.0, "added": -bgr}[centre]
    if arith == "float16":  # image and mean rounded to float16, and their difference
        x, mu = float16(x), float16(mu)
    if arith in ("uint8", "uint8_round"):  # image minus a uint8 mean: uint8 wraps mod 256
        y = x - (np.trunc(mu) if arith == "uint8" else np.round(mu))
        return _batch(np.mod(y, 256) if wraps else y)
    y = float16(x - mu) if arith in ("float16", "float16_result") else x - mu
    y = {"after": lambda: y / 255, "std": lambda: y / np.std(x), "std_bgr": lambda: y / STD,
         "std_rgb": lambda: y / STD[::-1]}.get(scale, lambda: y)()
    wrapped = np.mod(np.trunc(y), 256)
    y = {"int": np.trunc(y), "cast_uint8": wrapped,
         "like_input": wrapped if wraps else y}.get(arith, y)
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
    Op("scale", "times255", "scale", "×255 first", "you multiplied the pixels by 255 first (as "
       "if the image ran 0..1): load_image gives grey levels 0..255 already, and caffe "
       "preprocessing keeps them as they are"),
    Op("scale", "std", "scale", "÷ the image's standard deviation", "you divided by the "
       "image's standard deviation; caffe preprocessing only subtracts the mean, in 0..255"),
    Op("scale", "std_bgr", "scale", "÷ ImageNet's standard deviations", "you divided by "
       "ImageNet's standard deviations ([57.4, 57.1, 58.4], torchvision's std × 255): caffe "
       "preprocessing only subtracts the mean, and keeps 0..255 scaled as it is"),
    Op("scale", "std_rgb", "scale", "÷ ImageNet's standard deviations, RGB order", "you "
       "divided by ImageNet's standard deviations ([58.4, 57.1, 57.4], torchvision's std × "
       "255): caffe preprocessing only subtracts the mean, and keeps 0..255 scaled as it is"),
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
    Op("arith", "like_input", "dtype", "a buffer of the image's dtype (wraps)", "your result "
       "went through an array of the image's own dtype (np.empty_like(image), "
       "np.zeros_like(image) or image.copy() filled in): for a uint8 image values below 0 "
       "wrap around (−3 becomes 253) and the decimals are lost; make it float32, "
       "np.empty(image.shape, np.float32)"),
]


def _int8(v: np.ndarray) -> np.ndarray:
    """Whole numbers as int8 holds them: wrapped into −128 … 127 (past ±2³¹, 0)."""
    return np.where(np.abs(v) < 2.0**31, np.mod(v + 128, 256) - 128, 0)


def _wrap(v: np.ndarray) -> np.ndarray:
    """``v.astype(np.uint8)`` as NumPy does it: the decimals cut, wrapped modulo 256, and 0
    past ±2³¹ (the conversion goes through a 32-bit integer)."""
    return np.where(np.abs(v) < 2.0**31, np.mod(np.trunc(v), 256), 0)


def deprocess_program(x: np.ndarray, cast: str = "late", centre: str = "imagenet",
                      order: str = "rgb", mean_order: str = "bgr", scale: str = "none",
                      arith: str = "float", preclip: str = "none", bounds: str = "0_255"
                      ) -> np.ndarray:
    """Deprocessing with knobs (the reference: the ImageNet mean added in float, channels
    reversed, rounded, clipped to ``bounds`` 0..255, converted to uint8 last)."""
    x = _unbatched(x) * {"times255": 255.0, "over255": 1 / 255}.get(scale, 1.0)
    mu = mean() if mean_order == "bgr" else mean()[::-1]
    lo, hi = {"none": (-np.inf, np.inf), "int8": (-128, 127),
              "mean_rgb": (-mean()[::-1], 255 - mean()[::-1])}[preclip]
    x = np.clip(x, lo, hi)  # clipped in network units, before the mean goes back
    x = _wrap(x) if cast == "early" else x
    if arith == "float16":  # image, mean and their sum rounded to float16
        x, mu = float16(x), float16(mu)
    if centre == "uint8":  # uint8 + uint8: wraps modulo 256
        v = np.mod(_wrap(x) + np.trunc(mu), 256)
    else:
        v = {"imagenet": lambda: x + mu, "tf": lambda: (x + 1) * 127.5,
             "torch": lambda: (x * TORCH_STD + TORCH_MEAN) * 255,
             "none": lambda: x, "subtracted": lambda: x - mu,
             "own": lambda: x + x.mean(axis=(0, 1)), "twice": lambda: x + 2 * mu,
             "grey": lambda: x + mu.mean()}[centre]()
    v = float16(v) if arith == "float16" else v
    rgb = v[..., {"rgb": [2, 1, 0], "bgr": [0, 1, 2], "roll": [1, 2, 0]}[order]]
    if cast in ("int8", "int8_trunc"):  # .astype(np.int8) before clipping: wraps past 127
        rgb = rgb.astype(np.float32)  # the sum as float32 holds it (3e9 + 124 is 3e9)
        return np.clip(_int8(np.rint(rgb) if cast == "int8" else np.trunc(rgb)), 0, 255)
    if cast == "wrap":  # .astype(np.uint8) without clipping: wraps modulo 256
        return _wrap(rgb)
    if bounds != "0_255":  # other limits, then .astype(np.uint8): 256 wraps to 0, −1 to 255
        lo, hi = (float(b) for b in bounds.split("_"))
        return _wrap(np.clip(np.rint(rgb), lo, hi))
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
    Op("cast", "int8", "dtype", "int8 before clipping (wraps past 127)", "you converted "
       "to int8 before clipping: int8 holds −128 … 127, so every grey level from 128 up "
       "wraps around to a negative number and is then clipped to 0 (200 becomes −56, then "
       "0); clip in float first, then convert to uint8"),
    Op("cast", "int8_trunc", "dtype", "int8 before clipping, truncated", "you converted "
       "to int8 before clipping: int8 holds −128 … 127, so every grey level from 128 up "
       "wraps around to a negative number and is then clipped to 0 (200 becomes −56, then "
       "0), and .astype cuts the decimals instead of rounding; np.rint, clip in float, "
       "then convert to uint8"),
    Op("arith", "float16", "dtype", "float16 arithmetic", "you computed in float16: it "
       "keeps about 3 significant digits (between 128 and 256 its steps are 0.125, so "
       "180.44 becomes 180.5 and rounds the other way); add the mean in float32, then "
       "round, clip and convert"),
    Op("preclip", "int8", "range", "clipped to −128 … 127 in network units", "you clipped "
       "the network's values to −128 … 127 before adding the mean back: a preprocessed "
       "value runs from −123.68 up to 151.06 (255 minus the blue mean), so bright blues "
       "are cut; clip only at the end, to 0..255, after adding the mean"),
    Op("preclip", "mean_rgb", "range", "clipped to −mean … 255 − mean, mean in RGB order",
       "you clipped the network's values to −mean … 255 − mean with the mean in RGB order "
       "(the bounds of the B and R channels swapped); simpler and right: add the mean back "
       "first, then clip to 0..255"),
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
    Op("centre", "own", "normalisation", "the image's own mean added", "you added the "
       "image's own mean per channel; deprocessing adds back the fixed ImageNet mean "
       f"{_MEAN_TEXT}, the one preprocessing subtracted"),
    Op("centre", "twice", "normalisation", "mean added twice", "you added the ImageNet mean "
       "twice (x + 2·mean, or += in a loop that runs twice): deprocessing adds it back once, "
       f"{_MEAN_TEXT}"),
    Op("centre", "grey", "normalisation", "one grey mean for all channels", "you added one "
       "number to every channel, the average of the three means (114.8): each channel gets "
       f"its own mean back, {_MEAN_TEXT}"),
    Op("scale", "over255", "scale", "÷ 255 first", "you divided by 255 first: the network's "
       "values are already in grey levels (0..255 minus the mean); add the mean back without "
       "scaling"),
    Op("centre", "subtracted", "normalisation", "mean subtracted again", "you subtracted "
       "the mean again; deprocessing adds it back"),
    Op("mean_order", "rgb", "channel order", "mean in RGB order", "you added the mean in "
       "RGB order: [103.939, 116.779, 123.68] are the B, G, R means, so add them while the "
       "channels are still B, G, R, then reverse the channels"),
    Op("scale", "times255", "scale", "× 255 first", "you multiplied by 255 first: the "
       "network's values are already in grey levels (0..255 minus the mean); add the mean "
       "back without scaling"),
]


def _bound_says(lo: int, hi: int) -> str:
    """What a student who clipped to lo..hi before the uint8 conversion is told."""
    wrong = []
    if hi > 255:
        wrong.append(f"{hi} does not fit in uint8: .astype(np.uint8) wraps it around to "
                     f"{hi % 256}, so the brightest pixels turn black")
    elif hi < 255:
        wrong.append(f"every grey level above {hi} is cut (255, the brightest, is a grey "
                     "level too)")
    if lo < 0:
        wrong.append(f"{lo} does not fit in uint8: it wraps around to {lo % 256}, so the "
                     "darkest pixels turn bright")
    elif lo > 0:
        wrong.append(f"every grey level below {lo} is lifted (0, black, is a grey level too)")
    return (f"you clipped to {lo}..{hi}, not 0..255: " + "; and ".join(wrong)
            + ". uint8 holds exactly 0 … 255: np.clip(x, 0, 255), then .astype(np.uint8)")


#: Clipping limits off by one (or more) before the uint8 conversion.
BOUNDS = [(0, 256), (0, 254), (1, 255), (-1, 255), (-1, 256), (1, 256), (1, 254), (0, 250),
          (0, 1), (0, 127), (0, 128), (-128, 127)]

DEPROCESS_OPS += [Op("bounds", f"{lo}_{hi}", "range", f"clipped to {lo}..{hi}",
                     _bound_says(lo, hi)) for lo, hi in BOUNDS]
