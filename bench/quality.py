"""Output quality on photo x painting pairs, beside reference outputs: ``make quality``.

    python bench/quality.py [FOLDER] [--size 512] [-o build/quality] [--init ...] [key=value ...]

Renders every pair at ``--size`` px with the defaults (plus any ``key=value`` settings, values
as JSON: ``style_weight=100``) and writes, per pair, ``OUT/PHOTO_PAINTING.png`` (ours) and
``OUT/PHOTO_PAINTING_side.png`` (photo | painting | ours | reference, when there is one), and
prints one table row per pair with two numbers for ours and the reference
(README, "Choosing defaults"):

- **palette**: sliced Wasserstein distance between the result's and the painting's colour
  distributions in CIELAB (lower: closer to the painting's palette), :func:`palette_distance`;
- **edges**: correlation of the Sobel edge magnitudes of the result and the photo (higher: the
  photo's structures kept), :func:`edge_agreement`.

FOLDER (default: the bundled photo and paintings) is found by name, nothing hard-coded:

- ``FOLDER/content/`` and ``FOLDER/style/`` (the ``python -m helpers gallery`` layout): every
  photo x every painting; or
- a flat FOLDER with a ``reference/`` subfolder: the photos are the images some reference's
  name starts with (``tubingen`` for ``reference/tubingen_starry_neural-style.png``), the
  paintings are the other images.

A reference for a pair is a file in ``FOLDER/reference/`` whose name starts with the photo's
name and shares a word of four letters or more with the painting's name (``starry`` with
``starry_night``, ``scream`` with ``the_scream``). Not a test: it takes minutes per pair.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def palette_distance(image: np.ndarray, painting: np.ndarray, directions: int = 64,
                     quantiles: int = 256, seed: int = 0) -> float:
    """Sliced Wasserstein-1 distance between two images' CIELAB colour distributions: the
    mean over ``directions`` random unit vectors of the mean absolute difference of the
    projected colours' quantiles (in L*a*b* units; 0 = the same palette)."""
    from skimage.color import rgb2lab

    a, b = (rgb2lab(np.asarray(x)[..., :3]).reshape(-1, 3) for x in (image, painting))
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(directions, 3))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    q = (np.arange(quantiles) + 0.5) / quantiles
    qa = np.quantile(a @ theta.T, q, axis=0)
    qb = np.quantile(b @ theta.T, q, axis=0)
    return float(np.abs(qa - qb).mean())


def edge_agreement(image: np.ndarray, photo: np.ndarray) -> float:
    """Pearson correlation of the Sobel edge magnitudes of ``image`` and ``photo`` (grey
    levels, ``photo`` resized to ``image``'s shape); 1 = the same edges."""
    from skimage.color import rgb2gray
    from skimage.filters import sobel

    from helpers import images

    photo = images.resize_to(np.asarray(photo), np.shape(image)[:2])
    a, b = (sobel(rgb2gray(np.asarray(x)[..., :3])).ravel() for x in (image, photo))
    return float(np.corrcoef(a, b)[0, 1])


def _image_files(folder: Path) -> list[Path]:
    """The image files in ``folder`` (not its subfolders), sorted."""
    return sorted(f for f in folder.glob("*") if f.suffix.lower() in SUFFIXES)


def _words(name: str) -> set[str]:
    """The words of four letters or more in a file name."""
    return {w for w in re.split(r"[^a-z0-9]+", name.lower()) if len(w) >= 4}


def find_pairs(folder: Path) -> list[tuple[Path, Path, Path | None]]:
    """(photo, painting, reference or None) for every pair in ``folder`` (module docstring)."""
    refs = _image_files(folder / "reference") if (folder / "reference").is_dir() else []
    if (folder / "content").is_dir() and (folder / "style").is_dir():
        photos, paintings = _image_files(folder / "content"), _image_files(folder / "style")
    else:
        files = _image_files(folder)
        photos = [f for f in files if any(r.stem.startswith(f.stem + "_") for r in refs)]
        paintings = [f for f in files if f not in photos]
    if not photos or not paintings:
        raise SystemExit(f"no pairs in {folder}: give FOLDER/content and FOLDER/style, or a "
                         "flat folder with reference/PHOTO_PAINTING*.png files")
    out = []
    for photo in photos:
        for painting in paintings:
            match = [r for r in refs if r.stem.startswith(photo.stem + "_")
                     and _words(r.stem[len(photo.stem):]) & _words(painting.stem)]
            out.append((photo, painting, match[0] if match else None))
    return out


def bundled_pairs() -> list[tuple[object, object, None]]:
    """The bundled photo with each bundled painting (no references)."""
    from helpers import data

    return [(data.default_content(), data.default_style(), None),
            (data.default_content(), data.second_style(), None)]


def measure(result: np.ndarray, photo: np.ndarray, painting: np.ndarray) -> tuple[float, float]:
    """(palette distance to ``painting``, edge agreement with ``photo``) of ``result``; the
    painting is resized to the result's longest side first."""
    from helpers import images

    painting = images.resize(painting, size=max(np.shape(result)[:2]))
    return palette_distance(result, painting), edge_agreement(result, photo)


def side_by_side(panels: list[np.ndarray], titles: list[str], path: Path, title: str) -> None:
    """Save ``panels`` (all resized to the first one's height) in one titled row."""
    from helpers import images

    height = panels[0].shape[0]
    panels = [images.resize(p, height=height) for p in panels]
    fig = images.image_grid(panels, titles, ncols=len(panels), panel_size=5, suptitle=title)
    fig.savefig(path, dpi=80)
    import matplotlib.pyplot as plt

    plt.close(fig)


def render_pair(photo_src: object, painting_src: object, reference: Path | None, out: Path,
                size: int, options: dict) -> dict:
    """Stylise one pair, save it and its side-by-side, and return its table row."""
    from helpers import images, stylize

    photo, painting = images.load_image(photo_src), images.load_image(painting_src)
    name = f"{_stem(photo_src)}_{_stem(painting_src)}"
    start = time.perf_counter()
    result = stylize(photo, painting, size=size, progress=False, **options)
    seconds = time.perf_counter() - start
    result.save(out / f"{name}.png")
    row = {"pair": name, "seconds": seconds, "backbone": result.backbone.split(" (")[0]}
    row["palette"], row["edges"] = measure(result.image, photo, painting)
    panels = [images.resize_to(photo, result.image.shape[:2]), painting, result.image]
    titles = ["photo", "painting", f"ours: palette {row['palette']:.2f}, "
              f"edges {row['edges']:.3f}"]
    if reference is not None:
        ref = images.load_image(reference)
        row["ref_palette"], row["ref_edges"] = measure(ref, photo, painting)
        panels.append(ref)
        titles.append(f"reference: palette {row['ref_palette']:.2f}, "
                      f"edges {row['ref_edges']:.3f}")
    side_by_side(panels, titles, out / f"{name}_side.png",
                 f"{name}, {size} px, {row['backbone']}, {seconds:.0f} s")
    return row


def _stem(source: object) -> str:
    return Path(str(source)).stem if isinstance(source, (str, Path)) else "image"


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table (the reference's numbers where there is one)."""
    lines = ["| pair | palette ours | palette ref | edges ours | edges ref | s |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        ref_p = f"{r['ref_palette']:.2f}" if "ref_palette" in r else "-"
        ref_e = f"{r['ref_edges']:.3f}" if "ref_edges" in r else "-"
        lines.append(f"| {r['pair']} | {r['palette']:.2f} | {ref_p} | {r['edges']:.3f} | "
                     f"{ref_e} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", help="pairs (see the module docstring)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("-o", "--output", default="build/quality", help="output folder")
    parser.add_argument("settings", nargs="*", help="extra settings, key=value (JSON values)")
    args = parser.parse_intermixed_args(argv)  # settings may come before or after options
    if args.folder and "=" in args.folder:  # no folder, only settings
        args.settings, args.folder = [args.folder, *args.settings], None
    options = {}
    for kv in args.settings:
        key, value = kv.split("=", 1)
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
        options[key] = tuple(value) if isinstance(value, list) else value
    pairs = find_pairs(Path(args.folder)) if args.folder else bundled_pairs()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for photo, painting, reference in pairs:
        rows.append(render_pair(photo, painting, reference, out, args.size, options))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    (out / "quality.md").write_text(table(rows) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
