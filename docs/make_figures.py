"""Make the README's figures from the project's own bundled images: ``make figures``.

    python docs/make_figures.py [--only NAME ...] [--fast]

Writes small PNGs to ``docs/figures/``, each titled with the backbone that produced it:

- ``content_reconstructions.png``: white noise optimised to match the photo's features at
  ``block1_conv2 ... block5_conv2`` (Gatys et al. Fig. 1, bottom row);
- ``style_reconstructions.png``: white noise optimised to match the painting's Gram matrices
  over layer subsets {1}, {1,2}, ... {1..5} (Fig. 1, top row);
- ``stylisation.png``: content, style and the result with the default settings;
- ``choosing_defaults.png``: the candidate settings compared when the defaults were chosen.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import helpers  # noqa: E402
from helpers import data, images  # noqa: E402
from helpers.settings import DEFAULTS, channel_layer_weights  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures"


def save(fig, name: str) -> None:
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=72)
    print(f"wrote {path}")


def content_reconstructions(size: int, iterations: int) -> None:
    photo = images.load_image(data.default_content(), size=size)
    layers = [f"block{b}_conv2" for b in range(1, 6)]
    results = [helpers.stylize(photo, photo, size=size, iterations=iterations, init="noise",
                               content_layer=layer, style_weight=0, tv_weight=1e-5,
                               pooling="avg", progress=False) for layer in layers]
    fig = images.image_grid([photo] + [r.image for r in results], ["photo", *layers], ncols=6,
                            panel_size=2.6,
                            suptitle=f"Content reconstructions from white noise "
                                     f"({results[0].backbone.split(' (')[0]})")
    save(fig, "content_reconstructions")


def style_reconstructions(size: int, iterations: int) -> None:
    painting = images.load_image(data.default_style(), size=size)
    layers = [f"block{b}_conv1" for b in range(1, 6)]
    results = [helpers.stylize(painting, painting, size=size, iterations=iterations,
                               init="noise", style_layers=layers[:k], content_weight=0,
                               style_weight=1.0, tv_weight=0, pooling="avg",
                               balance_style_layers=True, style_loss="gram", progress=False)
               for k in range(1, 6)]
    titles = ["painting"] + [f"conv1 of blocks 1..{k}" for k in range(1, 6)]
    fig = images.image_grid([painting] + [r.image for r in results], titles, ncols=6,
                            panel_size=2.6,
                            suptitle=f"Style reconstructions from white noise "
                                     f"({results[0].backbone.split(' (')[0]})")
    save(fig, "style_reconstructions")


def stylisation(size: int, iterations: int) -> None:
    photo, painting = data.default_content(), data.default_style()
    start = time.perf_counter()
    result = helpers.stylize(photo, painting, size=size, iterations=iterations, progress=False)
    seconds = time.perf_counter() - start
    fig = images.image_grid(
        [images.resize(photo, size=size), images.resize(painting, size=size), result.image],
        ["content", "style", f"result ({seconds:.0f} s)"], ncols=3, panel_size=4,
        suptitle=f"helpers.stylize with the defaults, {size} px, {result.iterations_text()} "
                 f"({result.backbone.split(' (')[0]}, {result.settings['precision']})")
    save(fig, "stylisation")


#: The recipes compared when the defaults were chosen (docs/choosing_defaults.md): Gatys et
#: al.'s weights with balanced layers and average pooling, from the photo (the old defaults),
#: then one change at a time towards the new ones: jcjohnson/neural-style's weights and 4/C²
#: layer weights with max pooling, still from the photo; from the photo's gradient map in the
#: painting's colours; with the sliced Wasserstein loss and reflection padding but still 4/C²
#: (and content weight 2: the defaults before its layers were weighed equally); with its
#: layers weighed equally; with the first scale over an image pyramid (the defaults of
#: ``vgg16-hed``).
OLD = dict(style_loss="gram", padding="zero", pyramid_levels=1)
GATYS = dict(content_weight=1, style_weight=30, balance_style_layers=True, pooling="avg",
             init="content", **OLD)
CANDIDATES = {
    "old defaults (Gatys, balanced layers)": GATYS,
    "neural-style's weights, from the photo": {"init": "content", **OLD},
    "... from the gradient map": OLD,
    "... sliced W., 4/C², content 2": {"style_weight": 1e4, "content_weight": 2,
                                       "pyramid_levels": 1,
                                       "style_layer_weights": channel_layer_weights(
                                           DEFAULTS["vgg16-hed"]["style_layers"])},
    "... layers weighed 1/5": {"pyramid_levels": 1},
    "the defaults: ... image pyramid": {},
}


def choosing_defaults(size: int, iterations: int) -> None:
    photo, painting = data.default_content(), data.default_style()
    results = {name: helpers.stylize(photo, painting, size=size, iterations=iterations,
                                     progress=False, **kwargs)
               for name, kwargs in CANDIDATES.items()}
    first = next(iter(results.values()))
    fig = images.image_grid([images.resize(photo, size=size), images.resize(painting, size=size),
                             *(r.image for r in results.values())], ["content", "style", *results],
                            ncols=4, panel_size=3.5,
                            suptitle=f"Choosing the defaults: {size} px, "
                                     f"{first.iterations_text()} ({first.backbone.split(' (')[0]})")
    save(fig, "choosing_defaults")


FIGURES = {"content_reconstructions": content_reconstructions,
           "style_reconstructions": style_reconstructions, "stylisation": stylisation,
           "choosing_defaults": choosing_defaults}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(FIGURES), default=sorted(FIGURES))
    parser.add_argument("--fast", action="store_true", help="tiny sizes, to check the script")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    sizes = {"content_reconstructions": (64, 5) if args.fast else (224, 300),
             "style_reconstructions": (64, 5) if args.fast else (224, 300),
             "stylisation": (64, 5) if args.fast else (512, 100),
             "choosing_defaults": (96, 3) if args.fast else (384, 100)}
    for name in args.only:
        FIGURES[name](*sizes[name])


if __name__ == "__main__":
    main()
