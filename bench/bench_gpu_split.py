"""How one L-BFGS iteration splits between the network and scipy on a GPU (issue #14, goal 7).

    python bench/bench_gpu_split.py [--height 400] [--iterations 30] [--style-loss gram,sliced]

The library runs on TensorFlow. The GPU machines lent to this project have JAX and scipy but no
TensorFlow (and its wheel is far too large to carry there), so this script rebuilds
``stylize``'s objective in Keras 3 on the JAX backend, with the same layers, losses and weights
as the ``vgg16-hed`` defaults: VGG16 conv layers (random weights: the speed does not depend on
them), content loss at ``block4_conv2``, Gram or sliced Wasserstein style loss on
``block1_conv1`` ... ``block5_conv1``, total variation. It prints, measured in one run:

(b) a bare forward+backward of the truncated network on the device;
(a) one loss-and-gradient evaluation as scipy sees it (float64 image in, float64 gradient out,
    the copies to and from the device included), and (a)/(b);
(g) one ``fmin_l_bfgs_b`` iteration, split into the evaluations and scipy's own arithmetic plus
    the Python between them, and its share of the iteration;
(h) one iteration of a device-side L-BFGS (``optax.lbfgs``, jitted, without the pixel bounds)
    for comparison, with both losses after the same number of iterations.

Runs anywhere JAX runs (also on a CPU, slowly). Not a test.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # helpers without installing it (the GPU machines lack TensorFlow)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import scipy  # noqa: E402
from machine import cpu_model  # noqa: E402
from scipy.optimize import fmin_l_bfgs_b  # noqa: E402

from helpers import images  # noqa: E402  (NumPy and Pillow only, like helpers.settings)
from helpers.settings import DEFAULTS, STYLE_WEIGHTS  # noqa: E402

D = DEFAULTS["vgg16-hed"]
CONTENT_LAYER, STYLE_LAYERS = D["content_layer"], list(D["style_layers"])
WEIGHTS = {"content": D["content_weight"], "tv": D["tv_weight"], **STYLE_WEIGHTS}
MEAN = images.IMAGENET_MEAN_BGR


def load(name: str, h: int, w: int) -> np.ndarray:
    """A bundled picture, resized, caffe-preprocessed: (1, h, w, 3) float32."""
    return images.preprocess(images.resize_to(images.load_image(ROOT / "data" / name), (h, w)))


def extractor(precision: str):
    """A pure function image -> {layer: features} of VGG16 (random weights) on this backend."""
    keras.config.set_dtype_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(None, None, 3))
    keras.config.set_dtype_policy("float32")
    model = keras.Model(vgg.input, {n: vgg.get_layer(n).output
                                    for n in [*STYLE_LAYERS, CONTENT_LAYER]})
    params = [v.value for v in model.trainable_variables]

    def features(x):
        out, _ = model.stateless_call(params, [], x)
        return {k: v.astype(jnp.float32) for k, v in out.items()}

    return features


def gram(f):
    f = f.reshape(-1, f.shape[-1])
    return f.T @ f


def style_term(kind: str, f, target, directions):
    """Gram: ||G - G_s||^2 / (4 N^2 M^2); sliced: mean (sort(F v) - sort(F_s v))^2."""
    n, m = f.shape[-1], f.size // f.shape[-1]
    if kind == "gram":
        return jnp.sum((gram(f) - target) ** 2) / (4.0 * n * n * m * m)
    proj = jnp.sort(directions.T @ f.reshape(-1, n).T, axis=-1)  # one row per direction
    return jnp.mean((proj - target) ** 2)


def objective(features, content, style, kind: str):
    """The loss of ``stylize``'s objective and the targets it needs, as a jitted function."""
    fc, fs = features(content), features(style)
    key = jax.random.PRNGKey(0)
    directions, targets = {}, {}
    for name in STYLE_LAYERS:
        n = fs[name].shape[-1]
        v = jax.random.normal(jax.random.fold_in(key, n), (n, n))
        directions[name] = v / jnp.linalg.norm(v, axis=0, keepdims=True)
        flat = fs[name].reshape(-1, n)
        targets[name] = (gram(fs[name]) if kind == "gram"
                         else jnp.sort(directions[name].T @ flat.T, axis=-1))
    content_target = fc[CONTENT_LAYER]

    def loss(x):
        f = features(x)
        total = WEIGHTS["content"] * jnp.mean((f[CONTENT_LAYER] - content_target) ** 2)
        for name in STYLE_LAYERS:
            total += WEIGHTS[kind] / len(STYLE_LAYERS) * style_term(kind, f[name], targets[name],
                                                                    directions[name])
        dy, dx = x[:, 1:, :-1] - x[:, :-1, :-1], x[:, :-1, 1:] - x[:, :-1, :-1]
        return total + WEIGHTS["tv"] * jnp.mean((dy ** 2 + dx ** 2) ** 1.25)

    return jax.jit(loss)


def median_seconds(fn, repeats: int) -> float:
    fn()  # compile
    return statistics.median(timeit.repeat(fn, number=1, repeat=repeats))


def scipy_run(loss, x0: np.ndarray, iterations: int) -> dict:
    """``fmin_l_bfgs_b`` as ``stylize`` calls it, each evaluation timed inside its callback."""
    value_and_grad = jax.jit(jax.value_and_grad(loss))
    shape, evals = x0.shape, []

    def fg(flat):
        t = time.perf_counter()
        value, grad = value_and_grad(jnp.asarray(flat.reshape(shape), jnp.float32))
        out = float(value), np.asarray(grad, np.float64).ravel()  # waits for the device
        evals.append(time.perf_counter() - t)
        return out

    fg(x0.ravel().astype(np.float64))  # compile
    evals.clear()
    bounds = [(-m, 255.0 - m) for m in np.tile(MEAN, x0.size // 3)]
    marks = []  # after each iteration: (time, evaluations so far, their seconds so far)
    started = time.perf_counter()
    x, value, info = fmin_l_bfgs_b(
        fg, x0.ravel().astype(np.float64), bounds=bounds, maxiter=iterations, m=10,
        callback=lambda _: marks.append((time.perf_counter(), len(evals), sum(evals))))
    (t0, n0, e0), (t1, n1, e1) = marks[0], marks[-1]
    steps = len(marks) - 1  # the first iteration holds scipy's set-up: left out
    return dict(per_iter=(t1 - t0) / steps, evals_per_iter=(n1 - n0) / steps,
                eval_seconds=(e1 - e0) / steps, setup=t0 - started - e0, loss=value,
                per_eval=statistics.median(evals), iterations=info["nit"])


def device_run(loss, x0: np.ndarray, iterations: int) -> dict:
    """``optax.lbfgs`` (zoom line search) on the device: the whole loop is one jitted scan."""
    opt = optax.lbfgs(memory_size=10)
    value_and_grad = optax.value_and_grad_from_state(loss)

    def step(carry, _):
        x, state = carry
        value, grad = value_and_grad(x, state=state)
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=loss)
        x = optax.apply_updates(x, updates)  # unbounded: clipping would void the cached value
        return (x, state), optax.tree_utils.tree_get(state, "num_linesearch_steps")

    @jax.jit
    def run(x):
        (x, _), steps = jax.lax.scan(step, (x, opt.init(x)), None, length=iterations)
        return x, steps

    x = jnp.asarray(x0)
    jax.block_until_ready(run(x))  # compile
    t = time.perf_counter()
    x, steps = jax.block_until_ready(run(x))
    seconds = time.perf_counter() - t
    return dict(per_iter=seconds / iterations, loss=float(loss(x)),
                evals_per_iter=float(np.mean(steps)))  # one evaluation per line-search step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=400, help="image height, px")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--style-loss", default="gram,sliced", help="comma-separated")
    parser.add_argument("--precisions", default="float32,bfloat16", help="comma-separated")
    args = parser.parse_args()
    h = args.height
    w = round(h * 601 / 400)  # the bench_speed image's shape
    device = jax.devices()[0]
    print(f"Device: {device.device_kind} ({device.platform}); host CPU: {cpu_model()}, "
          f"{os.cpu_count()} cores; JAX {jax.__version__}, Keras "
          f"{keras.__version__}, scipy {scipy.__version__}, optax {optax.__version__}; "
          f"image {h}x{w} px, VGG16 conv layers (random weights)")
    content, style = load("mosaic.png", h, w), load("swirls.png", h, w)
    for precision in args.precisions.split(","):
        features = extractor(precision)
        bare = jax.jit(jax.grad(lambda x, f=features: sum(jnp.sum(v) for v in f(x).values())))
        x = jnp.asarray(content)
        b = median_seconds(lambda: bare(x).block_until_ready(), 20)  # noqa: B023
        print(f"\n[{precision}] (b) bare forward+backward: {b * 1e3:.1f} ms")
        for kind in args.style_loss.split(","):
            loss = objective(features, jnp.asarray(content), jnp.asarray(style), kind)
            s = scipy_run(loss, content, args.iterations)
            d = device_run(loss, content, args.iterations)
            evals, rest = s["eval_seconds"], s["per_iter"] - s["eval_seconds"]
            print(f"[{precision}, {kind}] (a) one evaluation through scipy's interface (float64 "
                  f"in/out, copies included): {s['per_eval'] * 1e3:.1f} ms, (a)/(b) "
                  f"{s['per_eval'] / b:.2f}")
            print(f"[{precision}, {kind}] (g) one fmin_l_bfgs_b iteration: "
                  f"{s['per_iter'] * 1e3:.1f} ms = {s['evals_per_iter']:.2f} evaluations "
                  f"{evals * 1e3:.1f} ms + scipy's arithmetic and Python {rest * 1e3:.1f} ms "
                  f"({rest / s['per_iter']:.0%} of the iteration); iteration / bare pass "
                  f"{s['per_iter'] / b:.1f}; scipy's set-up (bounds) {s['setup']:.2f} s per call")
            print(f"[{precision}, {kind}] (h) device-side L-BFGS (optax.lbfgs, jitted scan): "
                  f"{d['per_iter'] * 1e3:.1f} ms per iteration ({d['evals_per_iter']:.1f} "
                  f"evaluations), "
                  f"{s['per_iter'] / d['per_iter']:.1f}x faster than fmin_l_bfgs_b; loss after "
                  f"{args.iterations} iterations {d['loss']:.4g} vs scipy's {s['loss']:.4g} "
                  f"({s['iterations']} iterations)")


if __name__ == "__main__":
    main()
