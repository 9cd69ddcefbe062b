"""Checks ``style_layer_loss`` and ``style_loss`` of notebooks/exercises/ex04_style.ipynb: the
hidden inputs, the hand-written known mistakes and their hints; the mutation operators are in
:mod:`helpers.exercises.ex04_mistakes`."""

from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence

import numpy as np

from helpers.exercises._engine import (
    Case,
    Spec,
    feature_cases,
    gram_np,
    monomial,
    rng,
    scalar_shape,
    scalar_values,
)
from helpers.exercises.ex04_mistakes import (  # noqa: F401  (importable from here, as before)
    LAYER_OPS,
    STYLE_OPS,
    WRONG_M,
    _m,
    _style_norm,
    layer_program,
    style_program,
)
from helpers.exercises.mutations import Mutations


def _style_layer_ref(f: Any, a: Any) -> np.ndarray:
    from helpers.losses import style_layer_loss

    return style_layer_loss(f, a).numpy()


def _library_layer() -> Callable:
    from helpers.losses import style_layer_loss

    return style_layer_loss


def _layer_loss_np(f: Any, a: Any, k: float = 4.0, en: int = 2, em: int = 2,
                   m_of: Callable[[tuple], int] | None = None) -> float:
    """Σ (G − A)² / (k · N^en · M^em), M = m_of(shape) (default H·W)."""
    f = np.asarray(f, np.float64)
    n, m = f.shape[-1], (m_of or (lambda s: s[1] * s[2]))(f.shape)
    return float(np.sum((gram_np(f) - np.asarray(a, np.float64)) ** 2) / (k * n**en * m**em))


_REDUCE_MEAN = ("The extra N² comes from tf.reduce_mean on top of the explicit 1/(4·N²·M²) "
                "(the mean already divides by the N² entries: use tf.reduce_sum), or from "
                "M = tf.size(features), which is N·M values, not the H·W positions")
_NORMALISED = ("Dividing both Gram matrices by M (G/M and A/M) already divides the squared "
               "difference by M²: with normalised Gram matrices divide by 4·N² only, or keep "
               "them unnormalised and divide by 4·N²·M²")
_STYLE_HINTS = {"1": "Without it block1's loss would outweigh block5's by a factor of millions "
                     "and grow with the image",
                "4·N²·M": "M is squared because G grows like M, and E sums G²",
                "4·N⁴·M²": _REDUCE_MEAN, "N⁴·M²": _REDUCE_MEAN,
                "4·N²·M⁴": _NORMALISED}


def _wrong_m_layer() -> list[tuple[str, Callable]]:
    return [(f"your M is {text}; M is the number of positions H·W = features.shape[1] * "
             "features.shape[2]", lambda f, a, m=m_of: _layer_loss_np(f, a, m_of=m))
            for text, m_of in WRONG_M.items()]


STYLE_LAYER = Spec(
    what="one layer's style loss",
    cases=lambda: feature_cases(5, with_target="gram", large=True, real=True, thin=True),
    reference=_style_layer_ref,
    returns="tensor",
    candidates=[
        ("you forgot to square (G − A): positive and negative differences cancel",
         lambda f, a: np.sum(gram_np(f) - np.asarray(a, np.float64)) / _style_norm(f)),
        ("you used |G − A|; square it: (G − A)²",
         lambda f, a: np.sum(np.abs(gram_np(f) - np.asarray(a, np.float64))) / _style_norm(f)),
        *_wrong_m_layer(),
    ],
    divisor=(4.0, {"N": 2, "M": 2}),
    factor_hints=_STYLE_HINTS,
    shape_hint=scalar_shape,
    shape_values=scalar_values,
    watch=lambda args: [args[0]],
    success="E = 1/(4·N²·M²) Σ (G − A)², the gradient flows",
    library=_library_layer,
    mutations=Mutations(layer_program, LAYER_OPS, unpaired=("relative",)),
    rtol=1e-4,  # float32 in any order agrees to 1e-6; bfloat16 sums are off by 1e-4 … 1e-2
)


# ------------------------------------------------------------------ the sum over layers

_STYLE_LAYERS = {"block1_conv1": (12, 10, 3), "block2_conv1": (6, 5, 5), "block3_conv1": (3, 3, 8)}
_LARGE_LAYERS = {"block1_conv1": (128, 128, 64), "block2_conv1": (64, 64, 32),
                 "block3_conv1": (32, 32, 16)}


def _style_case(gen: np.random.Generator, layers: dict, scale: int, label: str,
                large: bool = False, reorder: bool = False) -> Case:
    from helpers._tf import tf

    feats, targets = {}, {}
    for name, (h, w, c) in layers.items():
        h, w = h * scale, w * scale + scale - 1  # non-square, differing M per case
        feats[name] = tf.constant(np.maximum(gen.normal(0.5, 1.0, (1, h, w, c)), 0),
                                  tf.float32)
        style = np.maximum(gen.normal(0.8, 1.3, (h + 2, w + 1, c)), 0)
        targets[name] = tf.constant(gram_np(style) / ((h + 2) * (w + 1)), tf.float32)
    weights = dict(zip(layers, gen.uniform(0.2, 3.0, len(layers)), strict=True))
    if reorder:  # a dict built elsewhere: its layers in another order than the targets'
        weights = dict(reversed(weights.items()))
    return Case((feats, targets, weights), {}, label, large=large)


def _style_cases() -> list[Case]:
    """Three layers of shrinking size, targets as helpers stores them (Fᵀ F / M of a style
    map of another size), unequal layer weights (in the second case and the real one listed
    in another order than the layers: weights go by name); the last case at real layer
    sizes."""
    gen = rng(6)
    label = f"hidden features for {len(_STYLE_LAYERS)} layers"
    return [_style_case(gen, _STYLE_LAYERS, 1, label),
            _style_case(gen, _STYLE_LAYERS, 2, label + ", layer_weights in another order",
                        reorder=True),
            _real_style_case(),
            _style_case(gen, _LARGE_LAYERS, 1, "hidden features for 3 layers of real size "
                        "(block1 is 128×128×64)", large=True)]


def _real_style_case() -> Case:
    """VGG features of the bundled photo at two layers (crops), the painting's normalised
    Gram matrices of other crops as targets: real magnitudes, where float16 overflows."""
    from helpers._tf import tf
    from helpers.exercises.real_inputs import real

    feats, targets = {}, {}
    for name, (rows, cols) in {"block1_conv1": (12, 20), "block2_conv1": (8, 10)}.items():
        feats[name] = tf.constant(real(f"photo_{name}")[:, :rows, :cols])
        style = real(f"painting_{name}")
        targets[name] = tf.constant(gram_np(style) / _m(style), tf.float32)
    weights = {"block2_conv1": 1.9, "block1_conv1": 0.7}  # another order than the layers
    return Case((feats, targets, weights), {}, "block1_conv1 and block2_conv1 features of a "
                "real photo", real=True)


def _style_ref(feats: dict, targets: dict, weights: dict) -> np.ndarray:
    from helpers.losses import style_loss

    return style_loss(feats, targets, weights).numpy()


def _library_style() -> Callable:
    from helpers.losses import style_loss

    return style_loss


def _style_np(feats: dict, targets: dict, weights: dict, k: float = 4.0, en: int = 2,
              em: int = 2, target_power: int = 1, weight: Callable | None = None,
              layers: Sequence[str] | None = None, m_of: Callable | None = None) -> float:
    """Σ_l w_l Σ (G − A·M^p)² / (k N^en M^em), with variations that model mistakes."""
    total = 0.0
    for i, name in enumerate(layers or feats):
        f = np.asarray(feats[name], np.float64)
        a = np.asarray(targets[name], np.float64) * _m(f) ** target_power
        w = weight(i, name) if weight else weights[name]
        total += w * _layer_loss_np(f, a, k, en, em, m_of)
    return total


def _wrong_norms() -> list[tuple[str, Callable]]:
    out = []
    for k, en, em in [*itertools.product((1.0, 2.0, 4.0), range(3), range(3)), (4.0, 4, 2),
                      (1.0, 4, 2), (4.0, 2, 4)]:
        if (k, en, em) == (4.0, 2, 2):
            continue
        mine = monomial(k, {"N": en, "M": em})
        why = ("you left out the 1/(4·N²·M²)" if mine == "1"
               else f"you divided by {mine}, not by 4·N²·M²")
        hint = _STYLE_HINTS.get(mine)
        out.append((f"each layer's loss is off: {why} (N = channels, M = H·W positions of that "
                    "layer)" + (f". {hint}" if hint and mine != "1" else ""),
                    lambda *a, k=k, en=en, em=em: _style_np(*a, k=k, en=en, em=em)))
    return out


def _style_candidates() -> list[tuple[str, Callable[..., float]]]:
    wrong_m = [(f"each layer's loss is off: your M is {text}; M is the number of positions "
                "H·W = features.shape[1] * features.shape[2]",
                lambda *a, m=m_of: _style_np(*a, m_of=m)) for text, m_of in WRONG_M.items()]
    return [
        ("you compared G with targets[layer] as given, but those are normalised, Fᵀ F / M "
         "of the style image (so its size does not matter): multiply by this layer's M = H·W "
         "first", lambda *a: _style_np(*a, target_power=0)),
        ("you divided the targets by M; they are already normalised (Fᵀ F / M): multiply "
         "them by this layer's M = H·W", lambda *a: _style_np(*a, target_power=-1)),
        ("you ignored layer_weights: multiply each layer's loss by layer_weights[layer]",
         lambda *a: _style_np(*a, weight=lambda i, n: 1.0)),
        ("you used equal weights 1/L; use layer_weights[layer]",
         lambda f, t, w: _style_np(f, t, w, weight=lambda i, n: 1.0 / len(t))),
        ("only the last layer counts: did you write `total = …` instead of `total += …` "
         "in your loop?", lambda f, t, w: _style_np(f, t, w, layers=list(f)[-1:])),
        ("only the first layer counts: is your `return` inside the loop?",
         lambda f, t, w: _style_np(f, t, w, layers=list(f)[:1])),
        ("you averaged over the layers: the style loss is the weighted SUM Σ w_l E_l",
         lambda f, t, w: _style_np(f, t, w) / len(t)),
        *_wrong_norms(),
        *wrong_m,
    ]


STYLE = Spec(
    what="the style loss",
    cases=_style_cases,
    reference=_style_ref,
    returns="tensor",
    candidates=_style_candidates(),
    shape_hint=scalar_shape,
    shape_values=scalar_values,
    watch=lambda args: list(args[0].values()),
    success="Σ_l w_l E_l with each target rescaled by M, the gradient flows",
    library=_library_style,
    mutations=Mutations(style_program, STYLE_OPS, scaled=False),
    rtol=1e-4,  # float32 in any order agrees to 1e-6; bfloat16 sums are off by 1e-4 … 1e-3
)
