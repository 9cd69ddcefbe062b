"""TensorFlow, imported once without its C++ start-up lines: ``from helpers._tf import tf``.

TensorFlow's C++ runtime writes several lines straight to file descriptor 2 while it loads and
looks for devices (oneDNN, the CUDA stub, "failed call to cuInit" on machines without a GPU).
They bypass Python's ``sys.stderr`` and ``TF_CPP_MIN_LOG_LEVEL``, so they showed up as red
error text in every notebook and before every message of the command line. Every module of
``helpers`` that needs TensorFlow imports it through here; if the import fails, the hidden
lines are shown after all (they then explain why).
"""

from __future__ import annotations

import os
import sys
import tempfile


def _import_quietly():  # noqa: ANN202  (returns the tensorflow module)
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        loaded = False
        try:
            import tensorflow

            tensorflow.config.list_physical_devices()  # the cuInit line comes from here
            loaded = True
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if not loaded:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace"))
    return tensorflow


tf = _import_quietly()
