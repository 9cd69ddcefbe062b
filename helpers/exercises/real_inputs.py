"""Real-magnitude hidden inputs of the exercise checks (no notebook of its own; used by
ex01_preprocess … ex05_total_variation): crops of the bundled photo and painting, and of their
VGG features (offline ``vgg16-hed``, average pooling, 128 px), shipped in
``real_inputs.npz`` beside this module.

Random unit-scale maps never overflow; real VGG activations reach hundreds, so a float16
Gram matrix of them is ``inf`` (float16 stops at 65504) and a float16 content or total
variation loss too. The crops are small (a check must answer within 2 s) and stored as
float16 values, which float32 holds exactly. ``python -m helpers.exercises.real_inputs``
rebuilds the file (the values depend on the bundled images and the backbone only).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

PATH = Path(__file__).resolve().parent / "real_inputs.npz"
#: (layer, rows, columns) of each feature crop, at 128×128 px.
CROPS = {"block1_conv1": (slice(48, 64), slice(40, 64)),
         "block2_conv1": (slice(20, 32), slice(16, 32))}
#: The image crop (rows, columns) at 128×128 px: uint8 RGB for preprocess, and for TV.
IMAGE_CROP = (slice(50, 66), slice(30, 54))


def build(path: Path = PATH) -> Path:
    """Compute the crops from the bundled images with the offline backbone and write them
    (atomically) to ``path``."""
    from helpers import backbone, data, images
    from helpers.files import atomic_write

    net = backbone.load_backbone("vgg16-hed", pooling="avg")
    extractor = backbone.feature_extractor(net, list(CROPS), [])
    arrays = {}
    for who, image in (("photo", data.default_content()), ("painting", data.default_style())):
        small = images.resize_to(image, (128, 128))
        arrays[f"{who}_image"] = small[IMAGE_CROP]
        feats = extractor(images.preprocess(small))
        for layer, (rows, cols) in CROPS.items():
            arrays[f"{who}_{layer}"] = feats[layer].numpy()[:, rows, cols].astype(np.float16)
    with atomic_write(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return path


@lru_cache(maxsize=1)
def _arrays() -> dict[str, np.ndarray]:
    """The stored arrays; where an installation left the file out, they are computed once
    (seconds, offline) into the Keras cache folder instead."""
    path = PATH
    if not path.is_file():
        from helpers.backbone import keras_cache_dir

        path = keras_cache_dir().parent / "nst_real_inputs.npz"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            build(path)
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def real(name: str) -> np.ndarray:
    """One stored array as the checks use it: images uint8 (H, W, 3), features float32
    (1, H, W, C). A fresh copy on every call."""
    value = _arrays()[name]
    return value.copy() if value.dtype == np.uint8 else value.astype(np.float32)


if __name__ == "__main__":
    print(f"wrote {build()}")
