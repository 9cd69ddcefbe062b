"""Output quality a user sees at once: clean borders on the bundled pair."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import data, run_images, stylizing


def saturated(image: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels with any channel at <= 5 or >= 250 (blown-out or crushed)."""
    return ((image <= 5) | (image >= 250)).any(axis=-1)


def border_ratio(image: np.ndarray, band: int = 8) -> tuple[float, float]:
    """Fraction of saturated pixels in the ``band``-px frame and in the interior."""
    sat = saturated(image)
    inner = np.zeros_like(sat)
    inner[band:-band, band:-band] = True
    return float(sat[~inner].mean()), float(sat[inner].mean())


@pytest.mark.slow
def test_the_bundled_pair_has_no_saturated_border_at_256_px():
    """Stated bound: the 8-px border band holds at most 1.5x the interior's share of
    near-saturated pixels (plus one pixel in a thousand, so that a spotless interior does
    not demand a spotless border)."""
    result = stylizing.stylize(data.default_content(), data.default_style(), size=256,
                              iterations=60, backbone="vgg16-hed", progress=False)
    edge, interior = border_ratio(result.image)
    assert edge <= 1.5 * interior + 1e-3, (edge, interior)


@pytest.mark.slow
def test_the_defaults_match_every_style_layer_the_deepest_included():
    """The painting's large marks live in the deep layers: with the default (sliced) style loss
    every style layer's loss, block5's included, ends below a quarter of the start's
    (docs/choosing_defaults.md). With neural-style's 4/C² the deep layers kept half of theirs (0.51)
    and skies filled with small cells."""
    from helpers import backbone, images, losses
    from helpers.targets import build_targets

    photo, painting = data.default_content(), data.default_style()
    result = stylizing.stylize(photo, painting, size=192, iterations=30, backbone="vgg16-hed",
                              precision="float32", progress=False)
    s = result.settings
    assert s["style_loss"] == "sliced"
    net = backbone.load_backbone("vgg16-hed", pooling=s["pooling"], precision="float32",
                                 padding=s["padding"])
    photo = images.resize(photo, size=192)
    painting = images.resize(painting, size=run_images.style_side(192, s["style_scale"]))
    targets = build_targets(net, photo, [painting], [1.0], None, None, s["style_layers"],
                            "sliced", "power")

    def layer_losses(image: np.ndarray) -> np.ndarray:
        features = targets.extractor(images.preprocess(image))
        return np.array([float(losses.sliced_layer_loss(features[n], *targets.style_targets[n]))
                         for n in s["style_layers"]])

    start = layer_losses(images.gradient_mapped(photo, painting))
    assert (layer_losses(result.image) < start / 4).all(), layer_losses(result.image) / start


def test_color_matched_init_is_the_photo_in_the_paintings_colours(photo, painting):
    """init="color_matched" starts from the photo recoloured to the painting's colour mean and
    covariance (docs/choosing_defaults.md): the painting's mean colour, the photo's shapes."""
    from helpers import images
    from helpers.settings import Settings

    settings = Settings(init="color_matched").resolved("vgg16-hed")
    prepared = run_images.Prepared(photo, [painting], photo, [painting], [1.0], None)
    start = images.deprocess(run_images.start_image(settings, prepared, None))
    assert start.shape == photo.shape
    np.testing.assert_allclose(start.reshape(-1, 3).mean(0), painting.reshape(-1, 3).mean(0),
                               atol=6)
    grey = [x.astype(float).mean(-1).ravel() for x in (start, photo)]
    assert abs(np.corrcoef(*grey)[0, 1]) > 0.9


def _bench_quality():
    """bench/quality.py as a module (bench/ is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "quality.py"
    spec = importlib.util.spec_from_file_location("bench_quality", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quality_numbers_palette_distance_and_edge_agreement(photo, painting):
    """make quality's numbers: a palette is 0 from itself and far from another; a picture's
    edges agree with themselves (1) more than a flat grey picture's (nan-free, about 0)."""
    q = _bench_quality()
    assert q.palette_distance(painting, painting) < 1e-9
    assert q.palette_distance(photo, painting) > 5
    assert q.palette_distance(photo[::-1], photo) < 1e-9  # a palette ignores where colours are
    assert q.edge_agreement(photo, photo) > 0.999
    noisy = np.random.default_rng(0).integers(0, 255, photo.shape).astype(np.uint8)
    assert q.edge_agreement(noisy, photo) < 0.3


def test_quality_finds_pairs_and_references_by_name(tmp_path, photo, painting):
    """A flat folder: the photo is the image a reference's name starts with; a reference
    belongs to the painting it shares a word with. The gallery layout works too."""
    from helpers import images

    q = _bench_quality()
    for name, image in (("town", photo), ("starry_night", painting), ("the_scream", painting)):
        images.save_image(image, tmp_path / f"{name}.png")
    (tmp_path / "reference").mkdir()
    images.save_image(photo, tmp_path / "reference" / "town_starry_other-tool.png")
    found = {(c.stem, s.stem): r and r.name for c, s, r in q.find_pairs(tmp_path)}
    assert found == {("town", "starry_night"): "town_starry_other-tool.png",
                     ("town", "the_scream"): None}
    for part, name in (("content", "a"), ("style", "b")):
        (tmp_path / "g" / part).mkdir(parents=True)
        images.save_image(photo, tmp_path / "g" / part / f"{name}.png")
    assert [(c.stem, s.stem, r) for c, s, r in q.find_pairs(tmp_path / "g")] == [("a", "b", None)]


def brush_strokes(seed: int, shape: tuple[int, int] = (128, 128), count: int = 400,
                  length: int = 12) -> np.ndarray:
    """A synthetic painting: ``count`` 3-px-wide straight strokes of random colours, mostly
    leaning one way (angle ~ N(0.6, 0.3) rad), on a grey ground."""
    from skimage.draw import line_aa

    rng = np.random.default_rng(seed)
    image = np.full((*shape, 3), 128, np.uint8)
    for _ in range(count):
        r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        angle, colour = rng.normal(0.6, 0.3), rng.integers(0, 255, 3)
        for offset in range(3):
            rr, cc, _ = line_aa(r + offset, c, int(r + offset + length * np.sin(angle)),
                                int(c + length * np.cos(angle)))
            inside = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
            image[rr[inside], cc[inside]] = colour
    return image


def test_marks_tell_a_flat_picture_and_noise_from_brush_strokes():
    """Two stroke textures drawn with other seeds are close (< 0.3); a flat grey picture is
    more than 10x further, and isotropic noise (marks everywhere, but no strokes: low
    coherence) more than 5x."""
    q = _bench_quality()
    a, b = brush_strokes(0), brush_strokes(1)
    near = q.marks_distance(a, b)
    assert near < 0.3
    assert q.marks_distance(np.full_like(a, 120), b) > 10 * near
    noise = np.random.default_rng(0).integers(0, 255, a.shape).astype(np.uint8)
    assert q.marks_distance(noise, b) > 5 * near
    assert q.mark_components(noise, b)["coherence"] > 3 * q.mark_components(a, b)["coherence"]


def test_marks_grow_with_blur():
    """A painting blurred more is further from itself, strictly, at every step."""
    from skimage.filters import gaussian

    q = _bench_quality()
    a = brush_strokes(0)
    blurred = [(gaussian(a, s, channel_axis=-1) * 255).astype(np.uint8) for s in (0.5, 1, 2, 4)]
    d = [q.marks_distance(a, a), *(q.marks_distance(x, a) for x in blurred)]
    assert d[0] < 1e-9
    assert (np.diff(d) > 0).all(), d


def test_marks_separate_the_bundled_photo_from_the_bundled_painting():
    """Chelsea the cat (a photograph: soft fur, a flat background) is more than 5x further
    from the bundled swirls than the painting's left half is from its right half."""
    from helpers import images

    q = _bench_quality()
    painting = images.resize(data.default_style(), size=451)
    half = painting.shape[1] // 2
    assert q.marks_distance(data.default_content(), painting) > 5 * q.marks_distance(
        painting[:, :half], painting[:, half:])


def test_marks_in_flat_regions_see_an_unpainted_sky():
    """A 'photo' whose top half is a flat sky: flat_mask picks the sky; a result that keeps
    the sky flat is far from the painting inside it, one that paints strokes there is near,
    though both are equally near over the whole picture's lower half."""
    q = _bench_quality()
    strokes = brush_strokes(2)
    photo = np.full_like(strokes, 200)
    photo[64:] = brush_strokes(3)[64:]
    mask = q.flat_mask(photo, photo.shape[:2])
    assert mask[:60].mean() > 0.55 and mask[70:].mean() < 0.05
    unpainted, painted = photo.copy(), photo.copy()
    painted[:64] = strokes[:64]
    far, near = (q.marks_distance(x, brush_strokes(4), mask) for x in (unpainted, painted))
    assert far > 5 * near, (far, near)


def test_edge_agreement_inside_a_box():
    """Inside a box the agreement sees only the box: a picture whose box matches the photo
    agrees there (1) whatever lies outside; one whose box is blank does not."""
    q = _bench_quality()
    photo = brush_strokes(5)
    other = photo.copy()
    other[:, 64:] = brush_strokes(6)[:, 64:]
    box = (0.0, 0.0, 1.0, 0.45)
    assert q.edge_agreement(other, photo, box) > 0.999
    assert q.edge_agreement(other, photo) < 0.9
    blank = photo.copy()
    blank[:, :64] = 128
    blank[0, 0] = 0  # not constant: a correlation needs some spread
    assert q.edge_agreement(blank, photo, box) < 0.3
    with pytest.raises(ValueError, match="fewer than 2 pixels"):
        q.edge_agreement(photo, photo, (0.5, 0.5, 0.5, 0.9))


def test_detail_map_weighs_the_content_term_where_the_photo_has_edges():
    """The detail map has mean 1, is even at strength 0 and, at strength 1, weighs a
    textured half far more than a flat half (a sky left to the style)."""
    from helpers.targets import detail_map

    photo = np.full((128, 128, 3), 150, np.uint8)
    photo[:, 64:] = brush_strokes(7)[:, 64:]
    np.testing.assert_allclose(detail_map(photo, (16, 16), 0.0), 1.0)
    weights = detail_map(photo, (16, 16), 1.0)
    assert abs(weights.mean() - 1) < 1e-9
    assert weights[:, 10:].mean() > 5 * weights[:, :6].mean()
    half = detail_map(photo, (16, 16), 0.5)
    assert half.min() >= 0.5 - 1e-9 and abs(half.mean() - 1) < 1e-9


def test_content_detail_weighs_the_content_loss_per_position(hed, photo):
    """With content_detail the content term is the map-weighted mean of (F - P)²: 0 at the
    photo itself, and for another image the plain term's value when the map is even."""
    import tensorflow as tf

    from helpers import images
    from helpers.targets import build_targets, detail_map

    layer = "block2_conv2"
    plain = build_targets(hed, photo, [photo], [1.0], None, layer, [], "gram", "power")
    weighted = build_targets(hed, photo, [photo], [1.0], None, layer, [], "gram", "power",
                             content_detail=1.0)
    w = tf.constant([1.0, 0.0, 0.0])
    other = photo[::-1].copy()
    x = tf.constant(images.preprocess(other))
    assert float(weighted.loss_and_grad(tf.constant(images.preprocess(photo)), w)[0][1]) < 1e-6
    feats = plain.extractor(x)[layer]
    diff = np.square(np.asarray(tf.cast(feats, tf.float32)) - plain.content_target.numpy())
    m = detail_map(photo, diff.shape[1:3], 1.0)[None, ..., None]
    expected = float((m * diff).mean())
    got = float(weighted.loss_and_grad(x, w)[0][1])
    assert abs(got - expected) <= 0.02 * expected, (got, expected)
    assert abs(got - float(plain.loss_and_grad(x, w)[0][1])) > 0.01 * expected


def test_portraits_are_named_pairs_and_get_a_face_score(tmp_path, photo, painting):
    """``--portraits``: scikit-image's astronaut and cameraman, saved as named colour PNGs, each
    with every painting; ``measure`` gives ``face`` (the edges inside the face box, where a
    picture that keeps only the face still agrees) only when given a box, and the table
    shows it."""
    from helpers import images

    q = _bench_quality()
    pairs = q.portrait_pairs(["a.png", "b.png"], tmp_path)
    assert [(p.name, s) for p, s, _ in pairs] == [
        ("astronaut.png", "a.png"), ("astronaut.png", "b.png"),
        ("camera.png", "a.png"), ("camera.png", "b.png")]
    portrait = images.load_image(pairs[2][0])
    assert portrait.ndim == 3 and portrait.shape[2] == 3
    box = q.FACE_BOXES["camera"]
    h, w = portrait.shape[:2]
    face_only = np.full_like(portrait, 128)
    rows = slice(round(box[0] * h) - 2, round(box[2] * h) + 2)  # 2 px more: Sobel's reach
    cols = slice(round(box[1] * w) - 2, round(box[3] * w) + 2)
    face_only[rows, cols] = portrait[rows, cols]
    scores = q.measure(face_only, portrait, painting, box)
    assert scores["face"] > 0.999 > scores["edges"]
    assert "face" not in q.measure(face_only, portrait, painting)
    row = {"pair": "camera_a", "seconds": 1.0, **scores}
    assert q.table([row]).splitlines()[0].endswith("| face | s |")
    assert f"| {scores['face']:.2f} | 1 |" in q.table([row])
