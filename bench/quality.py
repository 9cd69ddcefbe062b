"""Output quality on photo x painting pairs, beside reference outputs: ``make quality``.

    python bench/quality.py [FOLDER] [--size 512] [-o build/quality] [--portraits] [key=value ...]

Renders every pair at ``--size`` px with the defaults (plus any ``key=value`` settings, values
as JSON: ``style_weight=100``) and writes, per pair, ``OUT/PHOTO_PAINTING.png`` (ours) and
``OUT/PHOTO_PAINTING_side.png`` (photo | painting | ours | reference, when there is one), and
prints one table row per pair with four numbers for ours and the reference
(docs/choosing_defaults.md, docs/paintings.md):

- **palette**: sliced Wasserstein distance between the result's and the painting's colour
  distributions in CIELAB (lower: closer to the painting's palette), :func:`palette_distance`;
- **edges**: correlation of the Sobel edge magnitudes of the result and the photo (higher: the
  photo's structures kept), :func:`edge_agreement`;
- **marks**: how far the result's marks (brush strokes, grain, flat areas) are from the
  painting's, from pixels alone, independent of the network the run optimises: distances of
  the distributions of gradient energy and structure-tensor coherence over four scales
  (lower: closer), :func:`marks_distance`;
- **flat**: the same inside the photo's flattest 30 % (skies, water, walls: are they
  painted?), :func:`flat_mask`. docs/paintings.md shows how these rank pictures beside the
  eye.

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

#: The scores of a picture, in the order the table shows them (:func:`measure`).
SCORES = ("palette", "edges", "marks", "flat")
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


def edge_agreement(image: np.ndarray, photo: np.ndarray,
                   box: tuple[float, float, float, float] | None = None) -> float:
    """Pearson correlation of the Sobel edge magnitudes of ``image`` and ``photo`` (grey
    levels, ``photo`` resized to ``image``'s shape); 1 = the same edges. ``box`` = (top, left,
    bottom, right) as fractions of the height and width: only the pixels inside it (a face)."""
    from skimage.color import rgb2gray
    from skimage.filters import sobel

    from helpers import images

    photo = images.resize_to(np.asarray(photo), np.shape(image)[:2])
    a, b = (sobel(rgb2gray(np.asarray(x)[..., :3])) for x in (image, photo))
    if box is not None:
        h, w = a.shape
        rows = slice(round(box[0] * h), round(box[2] * h))
        cols = slice(round(box[1] * w), round(box[3] * w))
        a, b = a[rows, cols], b[rows, cols]
        if a.size < 2:
            raise ValueError(f"the box {box} holds fewer than 2 pixels of a {h}x{w} picture")
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


#: The scales (downsampling factors) at which :func:`stroke_features` looks at the marks: from
#: single-pixel grain to marks 8x larger (at 512 px: 1 to about 40 px across).
MARK_SCALES = (1, 2, 4, 8)
#: Squared gradients below this (grey levels in 0..1, per pixel) count as flat: about the
#: square of 8-bit quantisation's step (1/255), so a clean sky is "flat" in any file format.
ENERGY_FLOOR = 1e-5


def stroke_features(grey: np.ndarray, scale: int = 1, window: float = 1.5) -> dict:
    """Per-pixel mark statistics of a grey image (values 0..1) shrunk ``scale`` times:

    - ``energy`` = log10(|∇g|² + ENERGY_FLOOR): how strongly the picture is marked there
      (-5 = flat, a photo's sky; -1 = a hard stroke edge);
    - ``coherence`` = (λ1 - λ2) / (λ1 + λ2 + ε) from the structure tensor
      J = G_window * (∇g ∇gᵀ) with eigenvalues λ1 >= λ2: 1 = one direction (a stroke, a
      line), 0 = none (flat or isotropic grain);
    - ``angle`` = ½ atan2(2 J_rc, J_rr - J_cc): the marks' orientation (0..π);

    each an array of the shrunk image's shape."""
    from skimage.feature import structure_tensor, structure_tensor_eigenvalues
    from skimage.transform import rescale

    g = rescale(grey, 1 / scale, anti_aliasing=True) if scale > 1 else np.asarray(grey, float)
    gr, gc = np.gradient(g)
    j_rr, j_rc, j_cc = structure_tensor(g, sigma=window, order="rc")
    l1, l2 = structure_tensor_eigenvalues([j_rr, j_rc, j_cc])
    return {"energy": np.log10(gr ** 2 + gc ** 2 + ENERGY_FLOOR),
            "coherence": (l1 - l2) / (l1 + l2 + ENERGY_FLOOR),
            "angle": np.mod(0.5 * np.arctan2(2 * j_rc, j_rr - j_cc), np.pi)}


def _w1(a: np.ndarray, b: np.ndarray, quantiles: int = 128) -> float:
    """1-D Wasserstein-1 distance of two samples: mean |Q_a(q) - Q_b(q)| over ``quantiles``
    evenly spaced levels q."""
    q = (np.arange(quantiles) + 0.5) / quantiles
    return float(np.abs(np.quantile(a, q) - np.quantile(b, q)).mean())


def _orientations(f: dict, keep: np.ndarray, bins: int = 12) -> np.ndarray:
    """Histogram of the marks' angles, each pixel weighted by coherence · |∇g|, normalised."""
    weight = (f["coherence"] * np.sqrt(10.0 ** f["energy"]))[keep]
    hist, _ = np.histogram(f["angle"][keep], bins=bins, range=(0, np.pi), weights=weight)
    return hist / max(hist.sum(), 1e-12)


def _grey(image: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2gray

    image = np.asarray(image)
    return rgb2gray(image[..., :3]) if image.ndim == 3 else image.astype(float) / 255


def mark_components(image: np.ndarray, painting: np.ndarray, mask: np.ndarray | None = None,
                    scales: tuple[int, ...] = MARK_SCALES) -> dict[str, float]:
    """The parts of :func:`marks_distance`, each averaged over ``scales``: ``energy`` and
    ``coherence`` = W1(a, b) / σ_b, the 1-D Wasserstein distance of ``image``'s and the
    painting's values in units of the painting's own spread σ_b; ``angle`` = total variation
    ½ Σ|h_a - h_b| of the orientation histograms (:func:`_orientations`; reported, not
    summed: two halves of one painting differ by 0.1-0.34 there, as much as a photo from the
    painting, since orientations follow what is painted). With ``mask`` ((H, W) bool,
    ``image``'s size) only ``image``'s pixels inside it count; the painting's count
    everywhere."""
    from skimage.transform import resize

    parts = {"energy": 0.0, "coherence": 0.0, "angle": 0.0}
    for s in scales:
        fa, fb = stroke_features(_grey(image), s), stroke_features(_grey(painting), s)
        keep = np.ones(fa["energy"].shape, bool) if mask is None else resize(
            np.asarray(mask, float), fa["energy"].shape, order=1) > 0.5
        if not keep.any():
            raise ValueError(f"the mask keeps no pixel at scale {s}")
        for k in ("energy", "coherence"):
            b = fb[k].ravel()
            parts[k] += _w1(fa[k][keep], b) / max(float(b.std()), 1e-3)
        every = np.ones(fb["energy"].shape, bool)
        parts["angle"] += 0.5 * float(np.abs(_orientations(fa, keep)
                                             - _orientations(fb, every)).sum())
    return {k: v / len(scales) for k, v in parts.items()}


def marks_distance(image: np.ndarray, painting: np.ndarray, mask: np.ndarray | None = None,
                   scales: tuple[int, ...] = MARK_SCALES) -> float:
    """How far ``image``'s marks are from the painting's, from pixels alone (no network):
    the mean over ``scales`` s of W1(log energy) / σ + W1(coherence) / σ of
    :func:`stroke_features` at s (:func:`mark_components`; σ: the painting's spread). 0 = the
    same marks; a photo is far from a painting (flat areas, few strokes), a blurred painting
    further the more it is blurred. ``mask``: only ``image``'s pixels inside it (e.g. the
    photo's flat regions, :func:`flat_mask`)."""
    parts = mark_components(image, painting, mask, scales)
    return parts["energy"] + parts["coherence"]


def flat_mask(photo: np.ndarray, shape: tuple[int, int], share: float = 0.3,
              sigma: float = 4.0) -> np.ndarray:
    """(H, W) bool of ``shape``: the ``share`` of the photo's pixels with the lowest gradient
    energy G_sigma * |∇g|² (its skies, walls and water: where a painting's marks must come
    from the style, since the photo has none)."""
    from skimage.filters import gaussian
    from skimage.transform import resize

    g = resize(_grey(photo), shape, anti_aliasing=True)
    gr, gc = np.gradient(g)
    energy = gaussian(gr ** 2 + gc ** 2, sigma)
    return energy <= np.quantile(energy, share)


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


#: Portraits scikit-image ships (the astronaut: NASA, public domain; the cameraman: CC0) and
#: the box around each face (top, left, bottom, right as fractions of the picture, chosen by
#: looking): ``--portraits`` paints each with every painting and reports **face**, the edge
#: agreement inside the box (docs/paintings.md).
FACE_BOXES = {"astronaut": (0.10, 0.31, 0.37, 0.57), "camera": (0.14, 0.31, 0.35, 0.50)}


def portrait_pairs(paintings: list, out: Path) -> list[tuple[Path, object, None]]:
    """(portrait, painting, None) for each of :data:`FACE_BOXES`' portraits (saved as PNG
    files in ``out/portraits``, so they are named) with every one of ``paintings``."""
    from skimage import data

    from helpers import images

    folder = out / "portraits"
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for name in FACE_BOXES:
        image = getattr(data, name)()
        path = folder / f"{name}.png"
        images.save_image(np.stack([image] * 3, -1) if image.ndim == 2 else image, path)
        pairs += [(path, painting, None) for painting in paintings]
    return pairs


def bundled_pairs() -> list[tuple[object, object, None]]:
    """The bundled photo with each bundled painting (no references)."""
    from helpers import data

    return [(data.default_content(), data.default_style(), None),
            (data.default_content(), data.second_style(), None)]


def measure(result: np.ndarray, photo: np.ndarray, painting: np.ndarray,
            face: tuple[float, float, float, float] | None = None) -> dict[str, float]:
    """``palette`` (distance to ``painting``), ``edges`` (agreement with ``photo``), ``marks``
    (distance of the marks to the painting's) and ``flat`` (the same inside the photo's flat
    regions, :func:`flat_mask`) of ``result``, and with a ``face`` box (:data:`FACE_BOXES`)
    ``face``, the edge agreement inside it; the painting is resized to the result's longest
    side first."""
    from helpers import images

    painting = images.resize(painting, size=max(np.shape(result)[:2]))
    flat = flat_mask(photo, np.shape(result)[:2])
    scores = {"palette": palette_distance(result, painting),
              "edges": edge_agreement(result, photo), "marks": marks_distance(result, painting),
              "flat": marks_distance(result, painting, flat)}
    if face is not None:
        scores["face"] = edge_agreement(result, photo, face)
    return scores


def _scores(row: dict, prefix: str = "") -> str:
    return ", ".join(f"{k} {row[prefix + k]:.{3 if k == 'edges' else 2}f}"
                     for k in (*SCORES, "face") if prefix + k in row)


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
    row.update(measure(result.image, photo, painting, FACE_BOXES.get(_stem(photo_src))))
    panels = [images.resize_to(photo, result.image.shape[:2]), painting, result.image]
    titles = ["photo", "painting", f"ours: {_scores(row)}"]
    if reference is not None:
        ref = images.load_image(reference)
        row.update({f"ref_{k}": v for k, v in measure(ref, photo, painting).items()})
        panels.append(ref)
        titles.append(f"reference: {_scores(row, 'ref_')}")
    side_by_side(panels, titles, out / f"{name}_side.png",
                 f"{name}, {size} px, {row['backbone']}, {seconds:.0f} s")
    return row


def _stem(source: object) -> str:
    return Path(str(source)).stem if isinstance(source, (str, Path)) else "image"


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table: each score for ours and, where there is one, the
    reference (``-`` where not)."""
    head = " | ".join(f"{k} ours | {k} ref" for k in SCORES)
    faces = any("face" in r for r in rows)
    lines = [f"| pair | {head} |{' face |' if faces else ''} s |",
             "| --- " * (2 * len(SCORES) + 2 + faces) + "|"]
    for r in rows:
        cells = []
        for k in SCORES:
            digits = 3 if k == "edges" else 2
            ref = f"{r['ref_' + k]:.{digits}f}" if "ref_" + k in r else "-"
            cells += [f"{r[k]:.{digits}f}", ref]
        if faces:
            cells.append(f"{r['face']:.2f}" if "face" in r else "-")
        lines.append(f"| {r['pair']} | {' | '.join(cells)} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", help="pairs (see the module docstring)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("-o", "--output", default="build/quality", help="output folder")
    parser.add_argument("--portraits", action="store_true",
                        help="also paint scikit-image's portraits with every painting and "
                             "report the edges inside the face (face)")
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
    if args.portraits:
        paintings = list(dict.fromkeys(painting for _, painting, _ in pairs))
        pairs += portrait_pairs(paintings, out)
    rows = []
    for photo, painting, reference in pairs:
        rows.append(render_pair(photo, painting, reference, out, args.size, options))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    (out / "quality.md").write_text(table(rows) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
