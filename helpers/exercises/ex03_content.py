"""Checks ``content_loss`` of notebooks/exercises/ex03_content.ipynb."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from helpers.exercises._engine import Spec, feature_cases, scalar_shape


def _content_ref(f: Any, p: Any) -> np.ndarray:
    from helpers.losses import content_loss

    return content_loss(f, p).numpy()


def _library() -> Callable:
    from helpers.losses import content_loss

    return content_loss


def _diff(f: Any, p: Any) -> np.ndarray:
    return np.asarray(f, np.float64) - np.asarray(p, np.float64)


CONTENT = Spec(
    what="the content loss",
    cases=lambda: feature_cases(4, with_target="features"),
    reference=_content_ref,
    returns="tensor",
    candidates=[
        ("you used the absolute difference |F − P|; square it: (F − P)²",
         lambda f, p: np.mean(np.abs(_diff(f, p)))),
        ("you forgot to square: the mean of F − P lets positive and negative differences "
         "cancel", lambda f, p: np.mean(_diff(f, p))),
        ("you took the square root of the mean (that is the RMS distance); the loss is the "
         "mean squared difference itself", lambda f, p: np.sqrt(np.mean(_diff(f, p) ** 2))),
        ("you squared F and P separately: square the difference, (F − P)²",
         lambda f, p: np.mean(np.square(f) - np.square(p))),
    ],
    divisor=(1.0, {"N": 1, "M": 1}),
    factor_hints={"1": "You summed: take the mean (tf.reduce_mean) so the loss does not grow "
                       "with the image",
                  "2": "Gatys et al. write ½ Σ (F − P)²; our convention is the mean, "
                       "1/(N·M) Σ (F − P)²"},
    shape_hint=scalar_shape,
    watch=lambda args: [args[0]],
    success="the mean squared difference 1/(N·M) Σ (F − P)², the gradient flows",
    library=_library,
)
