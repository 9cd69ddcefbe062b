"""``python -m helpers gallery [FOLDER] -o GRID`` (README "Command line"; notebook 00 shows the
bundled pairs): paint every content image in every style and save one titled grid. With no
FOLDER it picks the bundled photo and paintings (the engine picks none).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from helpers import data, images
from helpers.cli.common import load_tensorflow_quietly, named_output, printable
from helpers.cli.setting_flags import setting_type
from helpers.errors import StyleTransferError
from helpers.files import save_figure
from helpers.settings import CHOICES

#: The endings of the grid ``gallery -o`` writes (matplotlib's formats).
FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")
#: The bundled images the gallery paints without a FOLDER: photos, then paintings.
BUNDLED_CONTENT, BUNDLED_STYLES = ("chelsea",), ("swirls", "mosaic")


def add_arguments(g: argparse.ArgumentParser) -> None:
    """The ``gallery`` command's arguments."""
    g.add_argument("folder", nargs="?", help="folder with content/ and style/ subfolders")
    g.add_argument("-o", "--output", default="build/gallery.png",
                   help="the grid image, ending " + ", ".join(FIGURE_SUFFIXES))
    g.add_argument("--size", type=setting_type("size"), default=256,
                   help="longest side of each result")
    g.add_argument("--iterations", type=setting_type("iterations"), default=100,
                   help="L-BFGS iterations of each result (coarse to fine they are shared out "
                   "over the scales: see stylize --help); each pair's line says what ran")
    g.add_argument("--backbone", default="auto", choices=CHOICES["backbone"],
                   help="network (see stylize --help)")


def folder_images(sub: Path) -> dict[str, Path]:
    """The image files of folder ``sub`` by name: the stem, or the whole name where two files
    share a stem (``a.png`` and ``a.jpg`` are two images, not one)."""
    try:
        files = sorted(f for f in sub.iterdir() if f.suffix.lower() in images.IMAGE_SUFFIXES)
    except OSError:
        files = []
    stems = [f.stem for f in files]
    return {f.stem if stems.count(f.stem) == 1 else f.name: f for f in files}


def gallery_inputs(folder: str | None) -> tuple[dict[str, Any], dict[str, Any], list[Path]]:
    """Content and style images by name: the bundled ones, or FOLDER/content, FOLDER/style;
    and the files they are read from (which -o may not replace)."""
    if folder is None:
        names = (*BUNDLED_CONTENT, *BUNDLED_STYLES)
        return ({name: data.bundled_image(name) for name in BUNDLED_CONTENT},
                {name: data.bundled_image(name) for name in BUNDLED_STYLES},
                [data.bundled_file(name) for name in names])
    found, reads = [], []
    for part in ("content", "style"):
        sub = Path(folder) / part
        files = folder_images(sub)
        if not files:
            raise StyleTransferError(
                f"no images in {images.short_path(sub)}; put photos in "
                f"{images.short_path(folder)}/content and paintings in "
                f"{images.short_path(folder)}/style")
        found.append({name: images.load_image(f) for name, f in files.items()})
        reads += files.values()
    return found[0], found[1], reads


def run_command(args: argparse.Namespace) -> int:
    """The ``gallery`` command: check, paint every pair, save the grid; the exit status."""
    import numpy as np

    contents, styles, reads = gallery_inputs(args.folder)
    output = named_output(args.output, reads, FIGURE_SUFFIXES)
    for picture in (*contents.values(), *styles.values()):  # sizes fail before TensorFlow
        images.target_shape(picture.shape[:2], size=args.size)
    load_tensorflow_quietly()
    from helpers.stylizing import stylize

    first = images.resize(next(iter(contents.values())), size=args.size)
    panels, titles, backbone, ran = [np.full_like(first, 255)], [""], "", ""
    for name, style in styles.items():
        panels.append(images.resize(style, size=args.size))
        titles.append(f"style: {name}")
    for cname, content in contents.items():
        panels.append(images.resize(content, size=args.size))
        titles.append(f"content: {cname}")
        for sname, style in styles.items():
            result = stylize(content, style, size=args.size, iterations=args.iterations,
                             backbone=args.backbone, progress=False)
            backbone, ran = result.settings["backbone"], result.iterations_text()
            panels.append(result.image)
            titles.append(f"{cname} x {sname}")
            print(printable(f"{cname} x {sname}: {ran}, {result.history[-1]['seconds']:.0f} s"),
                  flush=True)
    fig = images.image_grid(panels, titles, ncols=len(styles) + 1, panel_size=3.5,
                            suptitle=f"Gallery: {args.size} px, {ran}, {backbone}")
    save_figure(fig, output, dpi=80)
    print(printable(f"Result: {output}"))
    return 0
