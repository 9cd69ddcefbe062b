"""Where the bundled images live, and nothing else (notebook 00 shows the images;
:mod:`helpers.data` loads them). The files the library reads and must never write over:
:meth:`helpers.result.Result.save`, the command line and the app refuse an output that is one of
them. Knowing where they are picks no image: the engine may ask this module, never
:mod:`helpers.data`. No TensorFlow, no image loading.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SWIRLS_FILE = DATA_DIR / "swirls.png"
MOSAIC_FILE = DATA_DIR / "mosaic.png"
#: The bundled images' names (:data:`helpers.data.BUNDLED` loads them by these names).
NAMES = ("chelsea", "swirls", "mosaic")


def bundled_file(name: str) -> Path:
    """The file the bundled image ``name`` is read from (the command line refuses to write
    over it): ``data/swirls.png``, ``data/mosaic.png``, or Chelsea's PNG inside scikit-image."""
    if name == "chelsea":
        import skimage  # lazy: only the package's folder is needed

        return Path(skimage.__file__).parent / "data" / "chelsea.png"
    return {"swirls": SWIRLS_FILE, "mosaic": MOSAIC_FILE}[name]


def bundled_files() -> list[Path]:
    """Every bundled image's file (what no run may write over)."""
    return [bundled_file(name) for name in NAMES]
