"""The bundled default images and a few classic paintings (notebook 00 shows them).

- :func:`default_content`: Chelsea the cat, a photograph that ships inside scikit-image
  (``skimage.data.chelsea``), loaded from the installed package at run time.
- :func:`default_style`: ``data/swirls.png``, a painting this project made itself with
  :func:`paint_swirls` (brush strokes following a field of vortices, in night-sky colours).
- :func:`second_style`: ``data/mosaic.png``, a stained-glass mosaic made by
  :func:`paint_mosaic` (for blending styles and masks).
- :func:`classic`: public-domain paintings downloaded once with ``keras.utils.get_file``
  (checked against a SHA-256 hash when one is recorded) and cached in ``~/.keras/datasets``.

Origins and licences: ``data/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers import files
from helpers.bundled_files import DATA_DIR, MOSAIC_FILE, NAMES, SWIRLS_FILE, bundled_file
from helpers.errors import StyleTransferError


@dataclass(frozen=True)
class Painting:
    """A downloadable public-domain painting."""

    title: str
    url: str
    sha256: str | None = None


#: Public-domain paintings by name (Wikimedia Commons). Hashes are recorded where known.
CLASSICS: dict[str, Painting] = {
    "starry_night": Painting(
        "Vincent van Gogh, The Starry Night (1889)",
        "https://upload.wikimedia.org/wikipedia/commons/thumb/e/ea/"
        "Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg/"
        "1024px-Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg",
    ),
    "great_wave": Painting(
        "Katsushika Hokusai, The Great Wave off Kanagawa (c. 1831)",
        "https://upload.wikimedia.org/wikipedia/commons/thumb/a/a5/"
        "Tsunami_by_hokusai_19th_century.jpg/1024px-Tsunami_by_hokusai_19th_century.jpg",
    ),
    "composition_vii": Painting(
        "Wassily Kandinsky, Composition VII (1913)",
        "https://storage.googleapis.com/download.tensorflow.org/example_images/"
        "Vassily_Kandinsky%2C_1913_-_Composition_7.jpg",
    ),
    "the_scream": Painting(
        "Edvard Munch, The Scream (1893)",
        "https://upload.wikimedia.org/wikipedia/commons/thumb/c/c5/"
        "Edvard_Munch%2C_1893%2C_The_Scream%2C_oil%2C_tempera_and_pastel_on_cardboard%2C_"
        "National_Gallery_of_Norway.jpg/800px-Edvard_Munch%2C_1893%2C_The_Scream%2C_oil%2C_"
        "tempera_and_pastel_on_cardboard%2C_National_Gallery_of_Norway.jpg",
    ),
}


def default_content() -> np.ndarray:
    """The default content photograph, (300, 451, 3) uint8: scikit-image's Chelsea the cat."""
    from skimage import data as skdata

    return np.ascontiguousarray(skdata.chelsea())


def default_style() -> np.ndarray:
    """The default style painting, (512, 512, 3) uint8, read from ``data/swirls.png``."""
    from helpers.images import load_image

    if not SWIRLS_FILE.exists():
        return paint_swirls()
    return load_image(SWIRLS_FILE)


def second_style() -> np.ndarray:
    """A second bundled style painting, (512, 512, 3) uint8, read from ``data/mosaic.png``
    (for blending styles, masks and the tuning app)."""
    from helpers.images import load_image

    if not MOSAIC_FILE.exists():
        return paint_mosaic()
    return load_image(MOSAIC_FILE)


def bundled_image(name: str) -> np.ndarray:
    """The bundled image called ``name`` (one of :data:`BUNDLED`)."""
    return BUNDLED[name]()


def paint_swirls(size: int = 512, seed: int = 1889) -> np.ndarray:
    """A procedurally painted style image, (size, size, 3) uint8.

    Brush strokes are drawn by line-integral convolution: sparse paint dabs are smeared
    along the streamlines of a velocity field made of a few vortices and a gentle wind,
    then coloured with a night-sky palette by height and stroke brightness.
    """
    from scipy import ndimage  # here, not at the top: the CLI imports this module
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    vx = 0.6 * np.ones_like(xx)
    vy = 0.15 * np.sin(6.0 * xx)
    for _ in range(7):
        cx, cy = rng.uniform(0.1, 0.9, 2)
        radius = rng.uniform(0.08, 0.2)
        spin = rng.choice([-1.0, 1.0]) * rng.uniform(2.0, 4.0)
        dx, dy = xx - cx, yy - cy
        falloff = np.exp(-(dx**2 + dy**2) / (2 * radius**2))
        vx += -spin * dy / radius * falloff
        vy += spin * dx / radius * falloff
    speed = np.hypot(vx, vy) + 1e-9
    ux, uy = vx / speed, vy / speed

    dabs = (rng.random((size, size)) < 0.08).astype(np.float64) * rng.random((size, size))
    dabs = ndimage.gaussian_filter(dabs, 1.2)
    strokes = np.zeros_like(dabs)
    for direction in (1.0, -1.0):
        px, py = xx * size, yy * size
        for _ in range(14):
            strokes += ndimage.map_coordinates(dabs, [py, px], order=1, mode="reflect")
            ix = np.clip(px, 0, size - 1).astype(int)
            iy = np.clip(py, 0, size - 1).astype(int)
            px = px + direction * 1.5 * ux[iy, ix]
            py = py + direction * 1.5 * uy[iy, ix]
    strokes = np.argsort(np.argsort(strokes, axis=None)).reshape(strokes.shape) / strokes.size
    glow = ndimage.gaussian_filter(rng.random((size, size)), size / 16)
    glow = (glow - glow.min()) / (np.ptp(glow) + 1e-9)

    palette = np.array(
        [[12, 28, 70], [30, 70, 150], [70, 130, 200], [150, 190, 210], [240, 220, 110],
         [250, 245, 200]], dtype=np.float64,
    )
    tone = np.clip(0.55 * strokes + 0.45 * glow**1.5 + 0.05 * rng.random((size, size)), 0, 1)
    pos = tone * (len(palette) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(palette) - 2)
    frac = (pos - lo)[..., None]
    rgb = palette[lo] * (1 - frac) + palette[lo + 1] * frac
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def paint_mosaic(size: int = 512, seed: int = 1905) -> np.ndarray:
    """A procedurally painted stained-glass mosaic, (size, size, 3) uint8.

    Voronoi cells around random points, each filled with a warm colour (shaded across the
    cell like a brush stroke) and outlined in dark lead lines: flat colour patches and sharp
    edges, the opposite of :func:`paint_swirls`'s flowing strokes.
    """
    from scipy import ndimage  # here, not at the top: the CLI imports this module
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    points = rng.uniform(0, size, (90, 2))
    yy, xx = np.mgrid[0:size, 0:size]
    pixels = np.stack([yy.ravel(), xx.ravel()], axis=1)
    dist, label = cKDTree(points).query(pixels, k=2)
    label = label[:, 0].reshape(size, size)
    edge = (dist[:, 1] - dist[:, 0]).reshape(size, size) < 3.0
    palette = np.array(
        [[200, 40, 30], [235, 120, 30], [245, 200, 60], [60, 130, 70], [30, 80, 160],
         [120, 40, 110], [240, 230, 200]], dtype=np.float64,
    )
    colors = palette[rng.integers(0, len(palette), len(points))]
    angle = rng.uniform(0, np.pi, len(points))
    shade = (np.cos(angle)[label] * (xx - points[label, 1])
             + np.sin(angle)[label] * (yy - points[label, 0])) / size * 3.0
    rgb = colors[label] * (1.0 + np.clip(shade, -0.35, 0.35))[..., None]
    rgb += ndimage.gaussian_filter(rng.normal(0, 12, (size, size)), 1.0)[..., None]
    rgb[edge] = [25, 20, 20]
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def classic(
    name: str, url: str | None = None, sha256: str | None = None, cache_dir: str | None = None
) -> np.ndarray:
    """Download (once) and load a classic painting by name, (H, W, 3) uint8.

    ``url``/``sha256`` override the registry entry (e.g. for a mirror). Downloads go through
    ``keras.utils.get_file`` and are cached in ``~/.keras/datasets`` (or ``cache_dir``).
    Every use is checked against a SHA-256: the one given, or the one recorded beside the file
    at its first download (Keras fetches a damaged cached copy again).
    """
    import hashlib

    import keras

    from helpers.backbone import keras_cache_dir
    from helpers.images import load_image

    if name not in CLASSICS and url is None:
        raise StyleTransferError(
            f"unknown painting {name!r}; choose one of {', '.join(CLASSICS)} or give url="
        )
    entry = CLASSICS.get(name, Painting(name, url or ""))
    url = url or entry.url
    suffix = Path(url.split("?")[0]).suffix or ".jpg"
    folder = Path(cache_dir) if cache_dir is not None else keras_cache_dir().parent
    (folder / "datasets").mkdir(parents=True, exist_ok=True)  # else Keras picks /tmp/.keras
    record = folder / "datasets" / f"{name}{suffix}.sha256"
    digest = sha256 if sha256 is not None else (entry.sha256 if url == entry.url else None)
    if digest is None and record.is_file():
        digest = record.read_text().strip()
    try:
        path = keras.utils.get_file(
            f"{name}{suffix}", url, file_hash=digest, hash_algorithm="sha256",
            cache_dir=str(folder), cache_subdir="datasets",
        )
    except ValueError as exc:  # Keras raises ValueError when the hash does not match
        raise StyleTransferError(
            f"the download of {name!r} does not match its SHA-256 ({exc}); if the file "
            f"changed at its source, delete {record} to accept the new one"
        ) from None
    except Exception as exc:  # URLError, HTTPError, OSError, ...
        raise StyleTransferError(
            f"could not download {name!r} from {url} ({exc}); check your internet connection"
        ) from None
    if not record.is_file():
        files.write_text(record, digest or hashlib.sha256(Path(path).read_bytes()).hexdigest())
    return load_image(path)


if __name__ == "__main__":  # python -m helpers.data regenerates the bundled paintings
    from helpers.images import save_image

    print(save_image(paint_swirls(), SWIRLS_FILE))
    print(save_image(paint_mosaic(), MOSAIC_FILE))


#: The bundled images by name, as the command line (``python -m helpers stylize chelsea
#: mosaic``), the tuning app and "copy as code" call them: name -> the function that loads it.
#: (:data:`helpers.bundled_files.NAMES`, where their files are).
BUNDLED = dict(zip(NAMES, (default_content, default_style, second_style), strict=True))
__all__ = ["BUNDLED", "CLASSICS", "DATA_DIR", "MOSAIC_FILE", "SWIRLS_FILE", "Painting",
           "bundled_file", "bundled_image", "classic", "default_content", "default_style",
           "paint_mosaic", "paint_swirls", "second_style"]
