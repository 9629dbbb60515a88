"""Layer benchmarks: Conv2d, MaxPool2d and BatchNorm2d, forward and forward+backward (float32).

Each row times minicnn's layer, the same operation written the plain NumPy way (the version a
student writes first: pad, a strided view, one matmul, col2im by kernel-offset slice-adds), and
PyTorch's when it is importable. Each library runs in its own worker process (``_worker.py``)
with its own defaults; the parent alternates the calls (a, b, c, a, b, c, ...) so that all three
see the same machine load. Also: ``import minicnn`` time and the first LeNet-5 forward+backward
in a fresh process with a cold and a warm Numba cache.

With ``--methods``, only a table of minicnn's three convolution methods (im2col, direct,
batch_last) on stride-1 shapes, against the one ``method="auto"`` picks: the measurements behind
``minicnn.fast.methods.batch_last_is_faster`` and ``direct_is_faster``.

With ``--winograd``, only a table of im2col against Winograd's F(2×2, 3×3) on the 3×3 layers
with many channels, forward and forward+backward: the measurements behind
``minicnn.fast.methods.winograd_is_faster``.

    .venv/bin/python benchmarks/bench_layers.py [--quick] [--repeat N] [--threads N] [--markdown]
                                                [--methods] [--winograd]"""

import os
import subprocess
import sys
import tempfile

from _common import (
    alternate,
    cpu_line,
    fmt,
    median,
    parse_args,
    print_table,
    setup_all,
    version_line,
    worker_lines,
    workers,
)

CONV_SHAPES = [  # N, Cin, Cout, H=W, k, stride, pad
    (64, 1, 6, 28, 5, 1, 2),
    (64, 6, 16, 14, 5, 1, 0),
    (32, 3, 64, 32, 3, 1, 1),
    (64, 64, 64, 32, 3, 1, 1),
    (64, 64, 128, 32, 3, 2, 1),
    (64, 128, 128, 16, 3, 1, 1),
    (64, 256, 256, 8, 3, 1, 1),
]
POOL_SHAPE = (64, 64, 32, 32)
# For --methods: the stride-1 shapes above with at most 32 channels, and a few around the lines
# that "auto" draws (batch size, row length, kernel size).
METHOD_SHAPES = [
    (64, 1, 6, 28, 5, 1, 2),
    (64, 6, 16, 14, 5, 1, 0),
    (8, 6, 16, 14, 5, 1, 0),      # LeNet-5's second layer at batch 8: runs of 80 values
    (32, 3, 16, 32, 3, 1, 1),
    (128, 16, 16, 32, 3, 1, 1),   # a CIFAR ResNet's first stage
    (128, 32, 32, 16, 3, 1, 1),   # its second
    (64, 8, 8, 28, 3, 1, 1),      # 3×3 on 28×28: long rows
    (64, 32, 32, 7, 3, 1, 1),     # 3×3 on 7×7: short rows
]
CONV_METHODS = ("im2col", "direct", "batch_last")
# For --winograd: the 3×3 stride-1 shapes of CONV_SHAPES with 64 or more channels.
WINOGRAD_SHAPES = [
    (64, 64, 64, 32, 3, 1, 1),
    (64, 128, 128, 16, 3, 1, 1),
    (64, 256, 256, 8, 3, 1, 1),
]


# -- the plain NumPy way ------------------------------------------------------------------------

def numpy_conv_forward(np, x, w, b, stride, pad):
    """Pad, gather every patch with a strided view, one matmul. Returns (out, cache)."""
    n, c, _, _ = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride,
                                                                           ::stride]
    ho, wo = win.shape[2], win.shape[3]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)  # the copy
    out = cols @ w.reshape(o, -1).T + b
    return out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2), (xp.shape, cols, w, stride, pad)


def numpy_conv_backward(np, dout, cache):
    """dw = doutᵀ·cols, dcols = dout·w, then col2im by k·k kernel-offset slice-adds."""
    xp_shape, cols, w, s, pad = cache
    n, o, ho, wo = dout.shape
    _, c, k, _ = w.shape
    d = dout.transpose(0, 2, 3, 1).reshape(-1, o)
    db = d.sum(axis=0)
    dw = (d.T @ cols).reshape(w.shape)
    dcols = (d @ w.reshape(o, -1)).reshape(n, ho, wo, c, k, k)
    dxp = np.zeros(xp_shape, dout.dtype)
    for u in range(k):
        for v in range(k):
            dxp[:, :, u:u + s * ho:s, v:v + s * wo:s] += dcols[:, :, :, :, u, v].transpose(
                0, 3, 1, 2)
    h, wd = xp_shape[2] - 2 * pad, xp_shape[3] - 2 * pad
    return dxp[:, :, pad:pad + h, pad:pad + wd], dw, db


def numpy_maxpool_forward(np, x, k, s):
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    flat = win.reshape(*win.shape[:4], k * k)
    idx = flat.argmax(axis=-1)
    out = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    return out, (x.shape, idx, k, s)


def numpy_maxpool_backward(np, dout, cache):
    shape, idx, k, s = cache
    ho, wo = dout.shape[2], dout.shape[3]
    dx = np.zeros(shape, dout.dtype)
    for u in range(k):
        for v in range(k):
            dx[:, :, u:u + s * ho:s, v:v + s * wo:s] += np.where(idx == u * k + v, dout, 0)
    return dx


def numpy_bn_forward(np, x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    inv = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv
    return gamma[None, :, None, None] * x_hat + beta[None, :, None, None], (x_hat, gamma, inv)


def numpy_bn_backward(np, dout, cache):
    x_hat, gamma, inv = cache
    m = dout.size // dout.shape[1]
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3))
    dx = (gamma[None, :, None, None] * inv / m) * (
        m * dout - dbeta[None, :, None, None] - x_hat * dgamma[None, :, None, None])
    return dx, dgamma, dbeta


# -- the cases, built inside each library's worker (see _worker.py) ----------------------------

def conv_inputs(np, shape):
    """x, weight, bias and an upstream gradient, the same for every library (seed 0)."""
    n, cin, cout, hw, k, s, p = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, cin, hw, hw), dtype=np.float32)
    bound = 1 / np.sqrt(cin * k * k)  # PyTorch's and minicnn's default init range
    w = rng.uniform(-bound, bound, (cout, cin, k, k)).astype(np.float32)
    b = rng.uniform(-bound, bound, cout).astype(np.float32)
    ho = (hw + 2 * p - k) // s + 1
    dout = rng.standard_normal((n, cout, ho, ho), dtype=np.float32)
    return x, w, b, dout


def conv_case(lib, shape):
    """{"fwd", "fwd+bwd"} of one Conv2d shape (N, Cin, Cout, H=W, k, stride, pad) in ``lib``."""
    import numpy as np

    _, cin, cout, _, k, s, p = shape
    x, w, b, dout = conv_inputs(np, shape)
    if lib == "numpy":
        def np_both():
            _, cache = numpy_conv_forward(np, x, w, b, s, p)
            numpy_conv_backward(np, dout, cache)

        return {"fwd": lambda: numpy_conv_forward(np, x, w, b, s, p), "fwd+bwd": np_both}
    if lib == "minicnn":
        import minicnn as mc

        layer = mc.nn.Conv2d(cin, cout, k, stride=s, padding=p)
        layer.weight.data[...] = w
        layer.bias.data[...] = b

        def mc_fwd():
            with mc.no_grad():  # keeps no cache, as torch.no_grad()
                layer(x)

        def mc_both():
            layer(x)
            layer.backward(dout)

        return {"fwd": mc_fwd, "fwd+bwd": mc_both}
    import torch

    tx = torch.from_numpy(x).requires_grad_()
    tconv = torch.nn.Conv2d(cin, cout, k, stride=s, padding=p)
    with torch.no_grad():
        tconv.weight.copy_(torch.from_numpy(w))
        tconv.bias.copy_(torch.from_numpy(b))
    tdout = torch.from_numpy(dout)

    def t_fwd():
        with torch.no_grad():
            tconv(tx)

    def t_both():
        tconv(tx).backward(tdout)
        tconv.zero_grad(set_to_none=True)
        tx.grad = None

    return {"fwd": t_fwd, "fwd+bwd": t_both}


def conv_methods_case(lib, shape):
    """{method: fwd+bwd} of one stride-1 Conv2d shape by each of minicnn's methods, plus the
    same call under the name "auto is <method>", which tells the parent (it sees only the
    names) which method "auto" takes."""
    import numpy as np

    import minicnn as mc

    _, cin, cout, _, k, s, p = shape
    x, w, b, dout = conv_inputs(np, shape)
    layer = mc.nn.Conv2d(cin, cout, k, stride=s, padding=p)
    layer.weight.data[...] = w
    layer.bias.data[...] = b

    def both(method):
        def run():
            layer.method = method
            layer(x)
            layer.backward(dout)
        return run

    calls = {method: both(method) for method in CONV_METHODS}
    chosen = mc.fast.ops.conv2d_forward(x, w, b, s, p)[1].method  # what "auto" takes
    calls["auto is " + chosen] = calls[chosen]  # a name that carries the answer
    return calls


def winograd_case(lib, shape):
    """{"<method> fwd", "<method> fwd+bwd"} of one 3×3 stride-1 Conv2d shape in minicnn, for
    the methods "im2col" and "winograd"."""
    import numpy as np

    import minicnn as mc

    _, cin, cout, _, k, s, p = shape
    x, w, b, dout = conv_inputs(np, shape)
    layer = mc.nn.Conv2d(cin, cout, k, stride=s, padding=p)
    layer.weight.data[...] = w
    layer.bias.data[...] = b

    def fwd(method):
        def run():
            layer.method = method
            with mc.no_grad():
                layer(x)
        return run

    def both(method):
        def run():
            layer.method = method
            layer(x)
            layer.backward(dout)
        return run

    calls = {}
    for method in ("im2col", "winograd"):
        calls[f"{method} fwd"] = fwd(method)
        calls[f"{method} fwd+bwd"] = both(method)
    return calls


def pool_case(lib, k, s):
    """{"fwd", "fwd+bwd"} of a k×k/s max-pool on POOL_SHAPE in ``lib``."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal(POOL_SHAPE, dtype=np.float32)
    ho = (POOL_SHAPE[2] - k) // s + 1
    dout = rng.standard_normal((*POOL_SHAPE[:2], ho, ho), dtype=np.float32)
    if lib == "numpy":
        return {"fwd": lambda: numpy_maxpool_forward(np, x, k, s),
                "fwd+bwd": lambda: numpy_maxpool_backward(
                    np, dout, numpy_maxpool_forward(np, x, k, s)[1])}
    if lib == "minicnn":
        import minicnn as mc

        pool = mc.nn.MaxPool2d(k, s)

        def mc_fwd():
            with mc.no_grad():
                pool(x)

        def mc_both():
            pool(x)
            pool.backward(dout)

        return {"fwd": mc_fwd, "fwd+bwd": mc_both}
    import torch

    tx = torch.from_numpy(x).requires_grad_()
    tdout = torch.from_numpy(dout)

    def t_fwd():
        with torch.no_grad():
            torch.nn.functional.max_pool2d(tx, k, s)

    def t_both():
        torch.nn.functional.max_pool2d(tx, k, s).backward(tdout)
        tx.grad = None

    return {"fwd": t_fwd, "fwd+bwd": t_both}


def bn_case(lib):
    """{"fwd", "fwd+bwd"} of BatchNorm2d in training mode (batch statistics) on POOL_SHAPE."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal(POOL_SHAPE, dtype=np.float32)
    dout = rng.standard_normal(POOL_SHAPE, dtype=np.float32)
    channels = POOL_SHAPE[1]
    if lib == "numpy":
        gamma, beta = np.ones(channels, np.float32), np.zeros(channels, np.float32)
        return {"fwd": lambda: numpy_bn_forward(np, x, gamma, beta),
                "fwd+bwd": lambda: numpy_bn_backward(
                    np, dout, numpy_bn_forward(np, x, gamma, beta)[1])}
    if lib == "minicnn":
        import minicnn as mc

        bn = mc.nn.BatchNorm2d(channels)

        def mc_fwd():
            with mc.no_grad():
                bn(x)  # training mode: batch statistics, as torch's train-mode forward

        def mc_both():
            bn(x)
            bn.backward(dout)

        return {"fwd": mc_fwd, "fwd+bwd": mc_both}
    import torch

    tx = torch.from_numpy(x).requires_grad_()
    tbn = torch.nn.BatchNorm2d(channels)
    tdout = torch.from_numpy(dout)

    def t_fwd():
        with torch.no_grad():
            tbn(tx)

    def t_both():
        tbn(tx).backward(tdout)
        tbn.zero_grad(set_to_none=True)
        tx.grad = None

    return {"fwd": t_fwd, "fwd+bwd": t_both}


# -- the rows -----------------------------------------------------------------------------------

def repeats(args, calls: dict) -> int:
    """--repeat, or as many as fit in ~1 s per library (at least 3, at most 25)."""
    if args.repeat:
        return args.repeat
    if args.quick:
        return 2
    slowest = max(worker.time(name)[0] for worker, name in calls.values())
    return max(3, min(25, int(1.0 / max(slowest, 1e-9))))


def measure(args, calls: dict) -> dict:
    """{label: median ms} of {label: (worker, name)}, interleaved (see ``alternate``)."""
    times = alternate(calls, repeats(args, calls), warmup=1)
    return {label: median(t) * 1e3 for label, t in times.items()}


def case_rows(args, workers, factory, case_args, name, flops):
    """Set the case up in every worker, then one row per mode ("fwd", "fwd+bwd")."""
    setup_all(workers, factory, *case_args)
    rows = []
    for mode, f in (("fwd", flops), ("fwd+bwd", 3 * flops)):
        ms = measure(args, {lib: (worker, mode) for lib, worker in workers.items()})
        rows.append(layer_row(f"{name} {mode}", ms, f))
    return rows


def conv_rows(args, workers):
    rows = []
    for shape in CONV_SHAPES:
        n, cin, cout, hw, k, s, p = shape
        ho = (hw + 2 * p - k) // s + 1
        flops = 2 * n * cout * ho * ho * cin * k * k
        rows += case_rows(args, workers, "bench_layers.conv_case", [shape],
                          f"conv {n}x{cin}->{cout} {hw}px k{k} s{s} p{p}", flops)
    return rows


def method_rows(args, workers):
    """One row per METHOD_SHAPES shape: fwd+bwd ms by each method, the fastest, and auto's."""
    worker = workers["minicnn"]
    rows = []
    for shape in METHOD_SHAPES:
        n, cin, cout, hw, k, _, p = shape
        names = worker.setup("bench_layers.conv_methods_case", shape)
        auto = next(name for name in names if name.startswith("auto is "))[len("auto is "):]
        ms = measure(args, {method: (worker, method) for method in CONV_METHODS})
        fastest = min(ms, key=ms.get)
        rows.append([f"conv {n}x{cin}->{cout} {hw}px k{k} p{p} fwd+bwd",
                     *(fmt(ms[method]) for method in CONV_METHODS), fastest,
                     auto + ("" if auto == fastest else f" ({ms[auto] / ms[fastest]:.2f}×)")])
    return rows


def winograd_rows(args, workers):
    """One row per WINOGRAD_SHAPES shape and mode: im2col's ms, winograd's, and the ratio."""
    worker = workers["minicnn"]
    rows = []
    for shape in WINOGRAD_SHAPES:
        n, cin, cout, hw, k, _, p = shape
        worker.setup("bench_layers.winograd_case", shape)
        for mode in ("fwd", "fwd+bwd"):
            names = [f"im2col {mode}", f"winograd {mode}"]
            ms = measure(args, {name: (worker, name) for name in names})
            im2col, winograd = (ms[name] for name in names)
            rows.append([f"conv {n}x{cin}->{cout} {hw}px k{k} p{p} {mode}", fmt(im2col),
                         fmt(winograd), fmt(im2col / winograd, ".2f") + "×"])
    return rows


def layer_row(name, ms, flops):
    m = ms["minicnn"]
    t = ms.get("torch")
    return [name, fmt(m), fmt(flops / m / 1e6, ".1f") if flops else "—", fmt(ms["numpy"]),
            fmt(ms["numpy"] / m) + "×", fmt(t), fmt(t / m if t else None) + ("×" if t else "")]


def pool_bn_rows(args, workers):
    rows = []
    for k, s in ((2, 2), (3, 2)):
        rows += case_rows(args, workers, "bench_layers.pool_case", [k, s],
                          f"maxpool {k}x{k}/{s} 64x64x32x32", 0)
    rows += case_rows(args, workers, "bench_layers.bn_case", [], "batchnorm2d 64x64x32x32 train",
                      0)
    return rows


# -- start-up -----------------------------------------------------------------------------------

IMPORT_SNIPPET = ("import time; t = time.perf_counter(); import minicnn; "
                  "print(time.perf_counter() - t)")
FIRST_STEP_SNIPPET = """
import time
t0 = time.perf_counter()
import numpy as np
import minicnn
from minicnn import models, nn
t1 = time.perf_counter()
model = models.lenet5()
x = np.random.default_rng(0).standard_normal((64, 1, 28, 28), dtype=np.float32)
y = np.arange(64) % 10
loss_fn = nn.CrossEntropyLoss()
loss_fn(model(x), y)
model.backward(loss_fn.backward())
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def run_python(code: str, env=None) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True, env=env, cwd=os.path.dirname(os.path.dirname(
                              os.path.abspath(__file__)))).stdout


def startup_rows(args):
    n = 3 if args.quick else 7
    imports = [float(run_python(IMPORT_SNIPPET)) for _ in range(n)]
    rows = [["import minicnn (fresh process)", fmt(median(imports), ".3f") + " s",
             f"min {min(imports):.3f}, max {max(imports):.3f}, n={n}"]]
    cold, warm = [], []
    for _ in range(2 if args.quick else 3):
        with tempfile.TemporaryDirectory() as cache_dir:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
            cold.append([float(v) for v in run_python(FIRST_STEP_SNIPPET, env).split()])
            warm.append([float(v) for v in run_python(FIRST_STEP_SNIPPET, env).split()])
    for label, runs in (("cold", cold), ("warm", warm)):
        step = median([r[1] for r in runs])
        total = median([r[0] + r[1] for r in runs])
        rows.append([f"first LeNet-5 fwd+bwd (batch 64), {label} Numba cache",
                     fmt(step, ".2f") + " s",
                     f"incl. imports {total:.2f} s; runs: "
                     + ", ".join(f"{r[1]:.2f}" for r in runs)])
    return rows


def extra_flags(parser):
    parser.add_argument("--methods", action="store_true",
                        help="only compare minicnn's convolution methods (no other library)")
    parser.add_argument("--winograd", action="store_true",
                        help="only compare minicnn's im2col and winograd methods")


def main():
    args = parse_args(__doc__.splitlines()[0], extra_flags)
    print(cpu_line())
    print(version_line())
    if args.methods:
        with workers(args, ("minicnn",)) as libs:
            print("\n".join(worker_lines(libs)))
            print_table("Conv2d forward+backward by method (minicnn, ms; calls interleaved; "
                        "'auto' with its time over the fastest's when it is not the fastest)",
                        ["shape (stride 1)", *CONV_METHODS, "fastest", "auto"],
                        method_rows(args, libs), args.markdown)
        return
    if args.winograd:
        with workers(args, ("minicnn",)) as libs:
            print("\n".join(worker_lines(libs)))
            print_table("Conv2d 3x3 by im2col and winograd (minicnn, ms, median; calls "
                        "interleaved; × = im2col's time / winograd's, above 1: winograd faster)",
                        ["shape (stride 1)", "im2col", "winograd", "×"],
                        winograd_rows(args, libs), args.markdown)
        return
    with workers(args, ("minicnn", "numpy", "torch")) as libs:
        print("One worker process per library (each imports only its own):")
        print("\n".join(worker_lines(libs)))
        if "torch" not in libs:
            print("PyTorch not benchmarked: its columns are left empty")
        print("Ratios are times measured in the same run, the workers' calls interleaved; "
              "'× vs' = other's time / minicnn's (above 1: minicnn faster).")
        header = ["operation (float32)", "minicnn ms", "GFLOP/s", "numpy ms", "× vs numpy",
                  "torch ms", "× vs torch"]
        rows = startup_rows(args)
        print_table("Start-up", ["what", "median", "detail"], rows, args.markdown)
        rows = conv_rows(args, libs)
        print_table("Conv2d", header, rows, args.markdown)
        rows = pool_bn_rows(args, libs)
        print_table("MaxPool2d and BatchNorm2d", header, rows, args.markdown)


if __name__ == "__main__":
    main()
