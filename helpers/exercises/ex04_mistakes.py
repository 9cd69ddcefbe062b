"""The known mistakes of ``style_layer_loss`` and ``style_loss``
(notebooks/exercises/ex04_style.ipynb) as mutation operators: each function written with
knobs (:func:`layer_program`, :func:`style_program`) and its table of
:class:`~helpers.exercises.mutations.Op` (what to turn, and what a student who did it is
told); and what they share with the checks of :mod:`helpers.exercises.ex04_style` (M = H·W,
its mistyped versions :data:`WRONG_M`, the divisor 4·N²·M²)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from helpers.exercises.ex02_gram import FLOAT16, INT32
from helpers.exercises.mutations import Op, float16


def _m(f: Any) -> int:
    return int(np.shape(f)[1] * np.shape(f)[2])


#: Ways to mistype M = H·W for a (1, H, W, N) map: the text shown, and the value used.
WRONG_M: dict[str, Callable[[tuple], int]] = {
    "H·H (shape[1] * shape[1])": lambda s: s[1] * s[1],
    "W·W (shape[2] * shape[2])": lambda s: s[2] * s[2],
    "W·N (shape[2] * shape[3])": lambda s: s[2] * s[3],
    "H·N (shape[1] * shape[3])": lambda s: s[1] * s[3],
    "H + W": lambda s: s[1] + s[2],
    "H (shape[0] * shape[1], the batch axis is shape[0])": lambda s: s[0] * s[1],
}


def _style_norm(f: Any) -> float:
    """4·N²·M² of a (1, H, W, N) feature map, M = H·W: the style layer loss's divisor."""
    return 4.0 * f.shape[-1] ** 2 * _m(f) ** 2


def layer_program(f: Any, a: Any, square: str = "square", part: str = "full",
                  target: str = "a", m: str = "hw", reduce: str = "plain",
                  dtype: str = "float32", gram: str = "plain", relative: str = "none"
                  ) -> np.ndarray:
    """One layer's style loss with knobs (the reference: Σ (G − A)² / (4·N²·M²) over all of
    G − A, the plain G = Fᵀ F, float32, M = H·W)."""
    f, a = np.asarray(f, np.float64), np.asarray(a, np.float64)
    flat = f.reshape(-1, f.shape[-1])
    n = flat.shape[1]
    size = {"hw": flat.shape[0], "target_size": a.size, "target_n": a.shape[0]}[m]
    cast = np.trunc if dtype == "int32" else float16 if "float16" in dtype else np.asarray
    h = cast(flat)
    if gram == "scrambled":  # reshaped straight to (C, H·W): positions and channels mixed
        h = cast(f.reshape(n, -1).T)
    g = cast(h.T @ h)  # one operand twice: NumPy's fast path for Fᵀ F
    with np.errstate(all="ignore"):
        g = g / {"plain": 1, "over_m": flat.shape[0], "over_nm": n * flat.shape[0],
                 "over_n": n, "scrambled": 1, "trace": np.trace(g), "fro": np.linalg.norm(g),
                 "cosine": np.sqrt(np.outer(np.diag(g), np.diag(g)))}[gram]
    cast = np.asarray if dtype == "float16_gram" else cast  # only G in float16
    d = g - cast({"a": a, "zero": 0 * a, "aM": a * size, "a/M": a / size, "neg": -a,
                  "aTa": a.T @ a, "aTa/M": a.T @ a / size}[target])
    d = {"upper": np.triu(d), "diag": np.diag(np.diag(d)), "full": d}[part]
    if square == "cosine":  # 1 − cos(G, A), no divisor
        return 1 - np.sum(g * a) / np.sqrt(np.sum(g**2) * np.sum(a**2))
    total = _summed(d, g, a, square, cast)
    divisor = 4.0 * n**2 * size**2  # in float16 too when everything is (65504 at most)
    if relative != "none":  # Σ (G − A)² over the target's energy or norm, ÷ 4·N²·M² or not
        return _relative(total, a, divisor, relative)
    loss = cast(total) / (float16(divisor) if dtype == "float16" else divisor)
    if reduce == "precedence":  # total / 4 * N**2 * M**2: divided by 4, times N²·M²
        return loss * divisor**2 / 16
    if reduce == "precedence_m2":  # total / (4 * N**2) * M**2
        return loss * size**4
    if reduce in ("by_4", "by_4n2"):  # part of the divisor only
        return loss * (size**2 if reduce == "by_4n2" else n**2 * size**2)
    return np.floor(loss) if reduce == "floor" else loss


def _summed(d: np.ndarray, g: np.ndarray, a: np.ndarray, square: str, cast: Any) -> Any:
    """Σ (G − A)² and its mutants: a norm, the square of the sum, squares taken apart,
    |G − A| or no square."""
    if square == "norm":
        return np.sqrt(np.sum(d**2))
    if square == "square_of_sum":
        return np.sum(d) ** 2
    if square == "separately":  # Σ (G² − A²)
        return np.sum(g**2 - a**2)
    return np.sum(cast({"square": d**2, "abs": np.abs(d), "none": d}[square]))


def _relative(total: Any, a: np.ndarray, divisor: float, how: str) -> Any:
    """Σ (G − A)² over the target's energy Σ A² or norm ‖A‖ (``how``), and over 4·N²·M²
    too when ``how`` ends in '+'."""
    energy = np.sum(a**2) if how.startswith("ΣA²") else np.sqrt(np.sum(a**2))
    return total / energy / (divisor if how.endswith("+") else 1.0)


_NORM = ("you took the norm ‖G − A‖ (tf.norm) without squaring it: E sums the SQUARED "
         "differences, Σ (G − A)²")
_FLOOR = ("you divided with // (floor division), which rounds the loss down to a whole "
          "number; divide with /")
_F16 = FLOAT16.format("the Gram matrix and its squared differences")

_GRAM_NORMALISED = ("you normalised your Gram matrix by {} ({}) before comparing it with "
                    "target_gram: style_layer_loss compares the plain sum G = Fᵀ F with "
                    "target_gram as given, and its 1/(4·N²·M²) does all the normalising")

_RELATIVE = ("you divided Σ (G − A)² by {}{}: an error relative to the target's size. "
             "The style layer loss divides by 4·N²·M² only: Σ (G − A)² / (4·N²·M²)")
_COSINE = ("you normalised your Gram matrix by {} before comparing it with target_gram: "
           "style_layer_loss compares the plain sum G = Fᵀ F with target_gram as given, and "
           "its 1/(4·N²·M²) does all the normalising")

LAYER_OPS = [
    Op("target", "neg", "target", "G + A for G − A", "you added the target, (G + A)², where "
       "the loss takes the difference, (G − A)²: a sign slip"),
    Op("target", "aTa", "target", "Gram matrix of the target", "you took the Gram matrix of "
       "target_gram (gram_matrix(target_gram…), Aᵀ A): target_gram already IS a Gram matrix "
       "(N × N), so compare G with it as it is, G − A"),
    Op("target", "aTa/M", "target", "Gram matrix of the target ÷ M", "you took the Gram "
       "matrix of target_gram and divided it by M: target_gram already IS a Gram matrix "
       "(N × N), so compare G with it as it is, G − A"),
    *[Op("relative", f"{what}{plus}", "relative to the target", f"÷ {label}{plus}",
         _RELATIVE.format(label, " as well as by 4·N²·M²" if plus else " in place of "
                          "4·N²·M²")) for what, label in (("ΣA²", "Σ A², the target's "
                                                           "energy"), ("‖A‖", "‖A‖, the "
                                                           "target's norm"))
      for plus in ("", "+")],
    Op("gram", "cosine", "normalised Gram matrix", "G_ij ÷ √(G_ii G_jj) (cosine)",
       _COSINE.format("the lengths of its channels (G_ij / √(G_ii·G_jj), or F's columns "
                      "normalised to length 1: a cosine-similarity matrix)")),
    Op("gram", "trace", "normalised Gram matrix", "G ÷ trace(G)", _COSINE.format(
        "its trace (tf.linalg.trace(G) = ‖F‖²)")),
    Op("gram", "fro", "normalised Gram matrix", "G ÷ ‖G‖", _COSINE.format(
        "its own norm ‖G‖ (tf.norm(G))")),
    Op("gram", "over_m", "normalised Gram matrix", "G / M", _GRAM_NORMALISED.format(
        "M", "G / M, as the style targets are stored")),
    Op("gram", "over_nm", "normalised Gram matrix", "G / (N·M)", _GRAM_NORMALISED.format(
        "N·M", "G / (N·M), as the PyTorch tutorial does")),
    Op("gram", "over_n", "normalised Gram matrix", "G / N", _GRAM_NORMALISED.format(
        "N", "G / N, the number of channels")),
    Op("gram", "scrambled", "Gram matrix", "reshaped straight to (C, H·W)", "your "
       "Gram matrix reshapes the map straight to (C, H·W): channels are the LAST axis, so "
       "that mixes positions and channels. Reshape to (H·W, C) and compute Fᵀ F (or use "
       "gram_matrix from exercise 2)"),
    Op("square", "norm", "power", "unsquared norm ‖G − A‖", _NORM),
    Op("square", "abs", "power", "|G − A|", "you used |G − A|; square it: (G − A)²"),
    Op("square", "square_of_sum", "power", "(Σ (G − A))²", "you squared the SUM of the "
       "differences, (Σ (G − A))²: square each difference first, then sum, Σ (G − A)²"),
    Op("square", "separately", "power", "G² − A² (squared apart)", "you squared G and A "
       "separately, Σ (G² − A²): square their difference, Σ (G − A)²"),
    Op("square", "cosine", "power", "cosine distance 1 − cos(G, A)", "you took the cosine "
       "distance 1 − ⟨G, A⟩ / (‖G‖·‖A‖), which ignores how strong the features are: the "
       "style layer loss is Σ (G − A)² / (4·N²·M²)"),
    Op("square", "none", "power", "no square", "you forgot to square (G − A): positive and "
       "negative differences cancel"),
    Op("part", "upper", "part of G − A", "upper triangle", "you summed over the upper "
       "triangle of G − A only; every entry counts, both halves"),
    Op("part", "diag", "part of G − A", "diagonal only", "you compared only the diagonals "
       "of G and A (each channel with itself); every entry of G − A counts"),
    Op("target", "zero", "target", "target ignored", "your loss ignores the target: it is "
       "Σ G², not Σ (G − A)²"),
    Op("target", "aM", "target", "target × M (or G / M and ÷ 4·N² only)", "your G − A is "
       "off by a factor M: either you multiplied target_gram by M, or (the same numbers) you "
       "normalised your Gram matrix by M (G / M) and divided the loss by 4·N² only. Here "
       "target_gram is already at this map's scale (style_loss rescales the targets, not "
       "style_layer_loss): compare the plain Fᵀ F with target_gram as given, and divide by "
       "4·N²·M²"),
    Op("target", "a/M", "target", "target ÷ M", "you divided target_gram by M; compare G "
       "with target_gram as given"),
    Op("m", "target_size", "operand size", "M = tf.size(target) = N²", "your M is "
       "tf.size(target_gram) = N², the size of the target; M is this feature map's number "
       "of positions H·W (features.shape[1] * features.shape[2])"),
    Op("m", "target_n", "operand size", "M = target.shape[0] = N", "your M is "
       "target_gram.shape[0] = N, the target's side; M is this feature map's number of "
       "positions H·W (features.shape[1] * features.shape[2])"),
    Op("reduce", "floor", "reduction", "// (floor division)", _FLOOR),
    Op("reduce", "by_4", "reduction", "÷ 4 only", "you divided by 4 only; the whole "
       "normalisation is 1/(4·N²·M²)"),
    Op("reduce", "by_4n2", "reduction", "÷ 4·N² only", "you divided by 4·N² only; the whole "
       "normalisation is 1/(4·N²·M²)"),
    Op("reduce", "precedence", "operator precedence", "/ 4 * N**2 * M**2 (no parentheses)", "you "
       "wrote `/ 4 * N**2 * M**2` without parentheses: Python divides by 4 and then "
       "MULTIPLIES by N²·M²; write `/ (4 * N**2 * M**2)`"),
    Op("reduce", "precedence_m2", "operator precedence", "/ (4 * N**2) * M**2", "you wrote "
       "`/ (4 * N**2) * M**2`: Python divides by 4·N² and then MULTIPLIES by M²; put the "
       "whole divisor in one pair of parentheses, `/ (4 * N**2 * M**2)`"),
    Op("dtype", "float16", "dtype", "float16 arithmetic", _F16, rtol=2e-2),
    Op("dtype", "float16_sums", "dtype", "float16 sums, float32 divisor", _F16, rtol=2e-2),
    Op("dtype", "float16_gram", "dtype", "float16 Gram matrix", _F16, rtol=2e-2),
    Op("dtype", "int32", "dtype", "int32 features (decimals cut)", INT32),
]


def style_program(feats: dict, targets: dict, weights: dict, weight: str = "given",
                  scale: str = "M", layers: str = "all", square: str = "square",
                  dtype: str = "float32", twice: str = "none") -> np.ndarray:
    """The style loss with knobs (the reference: Σ_l w_l E_l over every layer, each target
    times its layer's M, each layer's weight its own, each layer normalised once). A
    ``scale`` that is a key of :data:`WRONG_M` rescales by that mistyped M."""
    names = list(targets)
    given = np.array([weights[n] for n in names], np.float64)
    ws = {"given": given, "positional": np.array(list(weights.values()), np.float64),
          "next": np.roll(given, -1), "previous": np.roll(given, 1),
          "squared": given**2, "ones": np.ones_like(given), "reversed": given[::-1],
          "sqrt": np.sqrt(given), "inverse": 1 / given,
          "mean": np.full_like(given, given.mean()),
          "normalised": given / given.sum(), "last": np.full_like(given, given[-1]),
          "last_listed": np.full_like(given, list(weights.values())[-1]),
          "first": np.full_like(given, given[0]),
          "equal": np.full_like(given, 1 / len(names))}.get(weight, given)
    keep = {"all": names, "drop_first": names[1:], "drop_last": names[:-1], "max": names}[layers]
    first_m = _m(feats[names[0]])
    total, largest = 0.0, -np.inf
    inside = weight in ("in_target", "on_features")  # the weight goes into one operand
    ws = given if inside else ws
    for w, name in zip(ws, names, strict=True):
        if name not in keep:
            continue
        f, a = feats[name], np.asarray(targets[name], np.float64)
        if inside:
            f, a = (f, a * w) if weight == "in_target" else (np.asarray(f) * w, a)
            w = 1.0
        factor = WRONG_M[scale](np.shape(f)) if scale in WRONG_M else {
            "M": _m(f), "1": 1, "1/M": 1 / _m(f), "N2": a.size, "first_M": first_m,
            "NM": np.size(f), "N": a.shape[0], "M2": _m(f) ** 2, "M-1": _m(f) - 1,
            "loss_M": 1, "loss_M2": 1, "loss_1/M": 1}[scale]
        again = {"none": 1, "M": _m(f), "M2": _m(f) ** 2, "whole": _style_norm(f)}[twice]
        again /= {"loss_M": _m(f), "loss_M2": _m(f) ** 2,
                  "loss_1/M": 1 / _m(f)}.get(scale, 1)  # the M put on the layer's loss
        term = w * layer_program(f, a * factor, square=square, dtype=dtype) / again
        total, largest = total + term, max(largest, float(term))
    return np.asarray(largest if layers == "max" else total)


_WEIGHTS = ("your layer weights are shifted by one: each layer got the weight of the {} "
            "layer (zip with list(layer_weights.values())[1:], or an index off by one); "
            "multiply each layer's loss by layer_weights[name] of the same name")
_SCALE = "you rescaled the targets by {}; rescale each by its own layer's M = H·W, once"
_TWICE = ("each layer's loss is divided by {} once more than style_layer_loss already does: "
          "the normalisation 1/(4·N²·M²) belongs to style_layer_loss alone; style_loss only "
          "rescales the targets by M and adds w_l · E_l")

_ON_LOSS = ("you multiplied each layer's LOSS by {} {}: the M belongs on the target, "
            "style_layer_loss(F, M · targets[layer]) (targets are stored as Fᵀ F / M, and "
            "G − M·A is not the same as M·(G − A)); then multiply by layer_weights[name] only")

STYLE_OPS = [
    Op("scale", "loss_M", "operand size", "M on the loss, not on the target",
       _ON_LOSS.format("M", "and compared G with targets[layer] as given")),
    Op("scale", "loss_M2", "operand size", "M² on the loss, not M on the target",
       _ON_LOSS.format("M²", "and compared G with targets[layer] as given")),
    Op("scale", "loss_1/M", "operand size", "loss ÷ M, target as given", _ON_LOSS.format(
        "1/M", "and compared G with targets[layer] as given")),
    Op("weight", "positional", "layer weights", "weights matched by position, not by name",
       "you matched the layer weights to the layers by position (zip(…, "
       "layer_weights.values()) or list(layer_weights.values())[i]), but a dict may list its "
       "layers in another order (it does in one hidden input): look each weight up by its "
       "layer's name, layer_weights[name]"),
    Op("weight", "next", "layer weights", "weights shifted by one (next)",
       _WEIGHTS.format("next")),
    Op("weight", "previous", "layer weights", "weights shifted by one (previous)",
       _WEIGHTS.format("previous")),
    Op("weight", "squared", "layer weights", "weight inside the square", "each layer's loss "
       "is multiplied by the SQUARE of its weight, w²: the weight is inside the square, "
       "(w·(G − A))², or squared on its own; multiply the layer's loss by w once, outside "
       "the sum"),
    Op("weight", "in_target", "layer weights", "weight multiplies the target", "you "
       "multiplied the TARGET by the layer weight (w · M · targets[layer] compared with G): "
       "the weight multiplies the layer's loss, w · E_l(F, M · targets[layer]), after "
       "style_layer_loss, not one of its inputs"),
    Op("weight", "on_features", "layer weights", "weight multiplies the features", "you "
       "multiplied the FEATURES by the layer weight before style_layer_loss (G grows like "
       "w², E like w⁴): the weight multiplies the layer's loss, w · E_l, after "
       "style_layer_loss, not one of its inputs"),
    Op("weight", "sqrt", "layer weights", "√w", "you multiplied each layer by the square "
       "root of its weight: multiply the layer's loss by layer_weights[name] itself"),
    Op("weight", "inverse", "layer weights", "divided by the weight", "you DIVIDED each "
       "layer's loss by its weight: multiply it, layer_weights[name] · E_l"),
    Op("weight", "mean", "layer weights", "the mean weight for all", "every layer got the "
       "same weight, the mean of layer_weights: multiply each layer's loss by its own "
       "layer_weights[name]"),
    Op("weight", "reversed", "layer weights", "weights in reverse order", "your layer "
       "weights are in reverse order (the first layer got the last weight): multiply each "
       "layer's loss by layer_weights[name] of the same name"),
    Op("weight", "normalised", "layer weights", "weights divided by their sum", "you "
       "divided the layer weights by their sum; use them as given, layer_weights[name]"),
    Op("weight", "last", "layer weights", "the last layer's weight for all", "every layer "
       "got the last layer's weight (a `w` left over from a loop, used after it?): multiply "
       "each layer's loss by its own layer_weights[name], inside the loop"),
    Op("weight", "last_listed", "layer weights", "the weight listed last, for all", "every "
       "layer got the last layer's weight (a `w` left over from a loop, used after it?): "
       "multiply each layer's loss by its own layer_weights[name], inside the loop"),
    Op("weight", "first", "layer weights", "the first layer's weight for all", "every layer "
       "got the first layer's weight: multiply each layer's loss by its own "
       "layer_weights[name]"),
    Op("weight", "ones", "layer weights", "weights ignored", "you ignored layer_weights: "
       "multiply each layer's loss by layer_weights[layer]"),
    Op("weight", "equal", "layer weights", "equal weights 1/L", "you used equal weights 1/L; "
       "use layer_weights[layer]"),
    Op("layers", "max", "layers summed", "the largest layer only (tf.reduce_max)", "your "
       "loss is the LARGEST weighted layer loss (tf.reduce_max over the layers): the style "
       "loss adds every layer's, Σ w_l E_l (tf.add_n)"),
    Op("layers", "drop_first", "layers summed", "first layer left out", "your sum leaves out "
       "the first layer (a loop from index 1?); every layer in targets counts"),
    Op("layers", "drop_last", "layers summed", "last layer left out", "your sum leaves out "
       "the last layer (range(len(…) − 1)?); every layer in targets counts"),
    Op("scale", "N2", "operand size", "target × tf.size(target) = N²", _SCALE.format(
        "their own size, tf.size(target) = N² (the target's, not the feature map's)")),
    Op("scale", "first_M", "operand size", "target × the first layer's M",
       _SCALE.format("the first layer's M for every layer")),
    Op("scale", "M2", "operand size", "target × M²", _SCALE.format("M²")),
    Op("scale", "M-1", "operand size", "target × (M − 1)", _SCALE.format("M − 1 (as a "
                                                                         "covariance does)")),
    Op("scale", "NM", "operand size", "target × tf.size(features) = N·M", _SCALE.format(
        "tf.size(features) = N·M, which counts every channel too (M counts positions only, "
        "H·W = features.shape[1] * features.shape[2])")),
    Op("scale", "N", "operand size", "target × N", _SCALE.format(
        "N, the number of channels (target.shape[0])")),
    *[Op("scale", text, "operand size", f"target × {text.split(' (')[0]}", "you rescaled "
         f"the targets by a mistyped M, {text}; M is the number of positions H·W = "
         "features.shape[1] * features.shape[2]") for text in WRONG_M],
    Op("twice", "M", "normalised twice", "each layer ÷ M once more", _TWICE.format("M")),
    Op("twice", "whole", "normalised twice", "each layer ÷ 4·N²·M² once more",
       _TWICE.format("4·N²·M²")),
    Op("scale", "1", "operand size", "target not rescaled", "you compared G with "
       "targets[layer] as given, but those are normalised, Fᵀ F / M: multiply by this "
       "layer's M = H·W first"),
    Op("square", "norm", "power", "unsquared norm ‖G − A‖", "each layer's loss is off: "
       + _NORM),
    Op("square", "abs", "power", "|G − A|", "each layer's loss is off: you used |G − A|; "
       "square it: (G − A)²"),
    Op("dtype", "float16", "dtype", "float16 arithmetic", _F16, rtol=2e-2),
    Op("dtype", "float16_sums", "dtype", "float16 sums, float32 divisor", _F16, rtol=2e-2),
    Op("dtype", "float16_gram", "dtype", "float16 Gram matrix", _F16, rtol=2e-2),
]
