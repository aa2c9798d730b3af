"""Seconds per Hessian-vector product, per Lanczos run and per density estimate, fnn beside plain JAX.

    python benchmarks/curvature.py [--quick] [--sizes 784-30-10,784-100-10,784-1024-1024-10] [--n 60000]

For each network (tanh hidden units, softmax output, log-likelihood cost) on
the first ``n`` Fashion-MNIST training images (uniform random inputs if the
files are absent), in one process, interleaved:

* HVP: ``fnn.curvature.dataset_hvp`` (forward-over-reverse of the hand-written
  gradient, ``grad="backprop"``, and of ``jax.grad``, ``grad="autodiff"``),
  beside plain inline ``jax.jit(jax.jvp(jax.grad(loss)))`` on the same data
  with the loss written in five lines of jnp; both over the whole set at once
  (``chunk_size=None``) and, for fnn, in chunks of 10,000; the public call is
  also timed inside the caller's ``jax.jit`` (the compiled program alone: the
  difference is the cost of the checks at the door);
* Lanczos: ``fnn.curvature.eigenpairs(k=1, num_iters=20)`` (20 HVPs, whole set
  at once: the gradient is linearized once) beside the same
  ``lanczos_tridiagonal`` driven by the plain HVP inside one ``jax.jit``;
* density: ``fnn.curvature.spectral_density(num_probes=2, num_iters=20)`` (40 HVPs).

PyTorch (PyHessian-style ``torch.autograd.grad`` twice) is compared only if
``import torch`` works; it is not installed here, which the table says.
Ratios are plain time / fnn time (> 1: fnn faster). The machine is shared and
noisy: times are medians of a few interleaved rounds, ratios are the useful part.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # _timing, and this checkout's fnn

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from _timing import block, interleaved
from fnn import curvature
from fnn.nn import MLP


def _data(n: int):
    try:
        from fnn import data

        x, y = data.load("fashion_mnist", "train", download=False, progress=False)
        return x[:n], y[:n], "Fashion-MNIST"
    except (FileNotFoundError, ValueError):
        k1, k2 = jax.random.split(jax.random.key(0))
        return jax.random.uniform(k1, (n, 784)), jax.random.randint(k2, (n,), 0, 10), "uniform random"


def _plain_loss(params, x, y):
    z = x
    for layer in params[:-1]:
        z = jnp.tanh(z @ layer["W"].T + layer["b"])
    a = z @ params[-1]["W"].T + params[-1]["b"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(a), y[:, None], axis=1))


@jax.jit
def _plain_hvp(params, v, x, y):
    return jax.jvp(jax.grad(lambda p: _plain_loss(p, x, y)), (params,), (v,))[1]


def _plain_lanczos(params, x, y, m):
    flat, unravel = ravel_pytree(params)

    @jax.jit
    def run(flat, v0, x, y):
        mv = lambda v: ravel_pytree(_plain_hvp(unravel(flat), unravel(v), x, y))[0]  # noqa: E731
        return curvature.ritz_pairs(curvature.lanczos_tridiagonal(mv, v0, m), 1)[0]

    v0 = jax.random.normal(jax.random.key(1), flat.shape, flat.dtype)
    return lambda: run(flat, v0, x, y)


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def bench(sizes, x, y, rounds: int, heavy: bool) -> dict:
    net = MLP(sizes, hidden="tanh", output="softmax")
    params = net.init(jax.random.key(0))
    v = jax.tree_util.tree_map(lambda a: jnp.ones_like(a) * 1e-2, params)
    n = x.shape[0]
    chunk = min(10_000, n)
    in_jit = jax.jit(lambda p, v, x, y: curvature.dataset_hvp(net, "log_likelihood", p, v, x, y))
    fns = {
        "fnn_bp": lambda: curvature.dataset_hvp(net, "log_likelihood", params, v, x, y),
        "fnn_bp_in_jit": lambda: in_jit(params, v, x, y),
        "fnn_bp_chunked": lambda: curvature.dataset_hvp(net, "log_likelihood", params, v, x, y, chunk_size=chunk),
        "fnn_autodiff": lambda: curvature.dataset_hvp(net, "log_likelihood", params, v, x, y, grad="autodiff"),
        "plain": lambda: _plain_hvp(params, v, x, y),
    }
    # correctness first: same numbers
    ref = ravel_pytree(block(fns["plain"]()))[0]
    for k in ("fnn_bp", "fnn_bp_in_jit", "fnn_bp_chunked", "fnn_autodiff"):
        got = ravel_pytree(block(fns[k]()))[0]
        rel = float(jnp.linalg.norm(got - ref) / jnp.linalg.norm(ref))
        assert rel < 1e-4, (k, rel)
    t = interleaved(fns, rounds=rounds, repeats=1)
    row = {"P": net.num_params(), "n": n, **{f"hvp_{k}": s for k, s in t.items()}}
    if heavy:
        lan = {
            "fnn": lambda: curvature.eigenpairs(net, "log_likelihood", params, x, y, 1, num_iters=20).values,
            "plain": _plain_lanczos(params, x, y, 20),
        }
        tl = interleaved(lan, rounds=max(1, rounds // 2), repeats=1)
        row |= {"lanczos20_fnn": tl["fnn"], "lanczos20_plain": tl["plain"]}
        t0 = time.perf_counter()
        block(curvature.spectral_density(net, "log_likelihood", params, x, y, num_probes=2, num_iters=20).density)
        t0 = time.perf_counter()
        block(curvature.spectral_density(net, "log_likelihood", params, x, y, num_probes=2, num_iters=20,
                                         key=jax.random.key(3)).density)
        row["density_2x20_fnn"] = time.perf_counter() - t0
    return row


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2,000 examples, the two small networks")
    ap.add_argument("--sizes", default="784-30-10,784-100-10,784-1024-1024-10")
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--light", default="784-1024-1024-10",
                    help="networks for which only the HVP is timed (Lanczos and density cost 20 and 40 HVPs)")
    args = ap.parse_args(argv)
    sizes = [tuple(int(s) for s in spec.split("-")) for spec in args.sizes.split(",")]
    light = {tuple(int(s) for s in spec.split("-")) for spec in args.light.split(",") if spec}
    n = 2000 if args.quick else args.n
    if args.quick:
        sizes = [s for s in sizes if s not in light][:2]
    x, y, src = _data(n)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPU cores (shared, noisy); "
          f"data: {n} {src} examples; float32")
    print("PyTorch:", "installed (not compared here)" if _torch_available() else "not installed - no PyTorch column")
    hdr = ("network", "P", "HVP fnn BP", "HVP fnn BP chunked", "HVP fnn autodiff", "HVP plain jvp(grad)",
           "plain/fnn BP", "plain/fnn BP in jit", "Lanczos20 fnn", "Lanczos20 plain", "plain/fnn", "density 2x20 fnn")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for sz in sizes:
        r = bench(sz, x, y, args.rounds, heavy=sz not in light)
        f = lambda k: f"{r[k]:.3g} s" if k in r else "not run"  # noqa: E731
        ratio_l = f"{r['lanczos20_plain'] / r['lanczos20_fnn']:.2f}" if "lanczos20_fnn" in r else "-"
        print(f"| {'-'.join(map(str, sz))} | {r['P']:,} | {f('hvp_fnn_bp')} | {f('hvp_fnn_bp_chunked')} | "
              f"{f('hvp_fnn_autodiff')} | {f('hvp_plain')} | {r['hvp_plain'] / r['hvp_fnn_bp']:.2f} | "
              f"{r['hvp_plain'] / r['hvp_fnn_bp_in_jit']:.2f} | "
              f"{f('lanczos20_fnn')} | {f('lanczos20_plain')} | {ratio_l} | {f('density_2x20_fnn')} |", flush=True)


if __name__ == "__main__":
    main()
