"""Training benchmarks: images/s of a full step (forward, loss, backward, SGD), inference images/s,
peak memory, and one LeNet-5 epoch; minicnn against PyTorch (CPU, float32) when importable.

Throughput and the epoch are measured in one worker process per library (``_worker.py``, which
imports only that library, so each runs with its own thread defaults), the parent alternating a
minicnn step and a PyTorch step so both see the same machine load. Peak memory (VmHWM, the
high-water mark of the resident set) is measured for each configuration in a fresh subprocess
that imports only one of the two libraries.

    .venv/bin/python benchmarks/bench_train.py [--quick] [--repeat N] [--threads N] [--markdown]
    .venv/bin/python benchmarks/bench_train.py --threading   # thread-setting study (see README)
    .venv/bin/python benchmarks/bench_train.py --profile     # where a LeNet-5 step spends its time
"""

import argparse
import json
import os
import subprocess
import sys
import time

from _common import (
    alternate,
    configure_minicnn,
    cpu_line,
    cpu_times,
    fmt,
    median,
    parse_args,
    print_table,
    setup_all,
    steal_share,
    version_line,
    worker_lines,
    workers,
)

CONFIGS = [  # name, batch, input shape
    ("LeNet-5", 64, (1, 28, 28)),
    ("ResNet-20", 128, (3, 32, 32)),
    ("VGG-11-BN", 64, (3, 32, 32)),
]


def extra_flags(parser):
    parser.add_argument("--threading", action="store_true",
                        help="compare thread settings (subprocesses) instead of the main tables")
    parser.add_argument("--profile", action="store_true", help="per-layer LeNet-5 step profile")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)


# -- models -------------------------------------------------------------------------------------

def minicnn_model(name):
    from minicnn import models

    if name == "LeNet-5":
        return models.lenet5()
    if name == "ResNet-20":
        return models.resnet20()
    return models.vgg11(num_classes=10, input_size=32, batch_norm=True)


def torch_model(torch, name):
    """The same architectures in PyTorch (shapes and layer order as minicnn's builders)."""
    nn = torch.nn
    if name == "LeNet-5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    if name == "VGG-11-BN":
        layers, c = [], 3
        for item in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, item, 3, padding=1), nn.BatchNorm2d(item), nn.ReLU()]
                c = item
        return nn.Sequential(
            *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(512, 512), nn.ReLU(), nn.Dropout(), nn.Linear(512, 512), nn.ReLU(),
            nn.Dropout(), nn.Linear(512, 10))

    class Block(nn.Module):  # BasicBlock with the option-A (zero-padding) shortcut
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.pad = cout - cin
            self.stride = stride

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            short = x
            if self.stride != 1 or self.pad:
                short = torch.nn.functional.pad(x[:, :, ::self.stride, ::self.stride],
                                                (0, 0, 0, 0, 0, self.pad))
            return torch.relu(out + short)

    blocks, c = [], 16
    for width, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            blocks.append(Block(c, width, stride if i == 0 else 1))
            c = width
    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def minicnn_step_fns(name, batch, shape):
    import numpy as np

    from minicnn import nn, no_grad, optim

    model = minicnn_model(name)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *shape), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x=x, y=y):
        model.train()
        loss_fn(model(x), y)
        opt.zero_grad()
        model.backward_params(loss_fn.backward())  # as PyTorch: no gradient for the images
        opt.step()

    def infer():
        model.eval()
        with no_grad():
            model(x)

    return step, infer, model


def torch_step_fns(torch, name, batch, shape):
    import numpy as np

    model = torch_model(torch, name)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((batch, *shape), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, batch))
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x=x, y=y):
        model.train()
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer():
        model.eval()
        with torch.no_grad():
            model(x)

    return step, infer, model


def train_case(lib, name):
    """Worker factory: {"train step", "inference"} of one configuration in ``lib``."""
    batch, shape = next((b, s) for n, b, s in CONFIGS if n == name)
    if lib == "torch":
        import torch

        step, infer, _ = torch_step_fns(torch, name, batch, shape)
    else:
        step, infer, _ = minicnn_step_fns(name, batch, shape)
    return {"train step": step, "inference": infer}


def epoch_case(lib, images):
    """Worker factory: {"epoch"}, one LeNet-5 epoch over random MNIST-sized data, batch 64."""
    import numpy as np

    data = np.random.default_rng(1).standard_normal((images, 1, 28, 28), dtype=np.float32)
    labels = np.random.default_rng(2).integers(0, 10, images)
    if lib == "torch":
        import torch

        step = torch_step_fns(torch, "LeNet-5", 64, (1, 28, 28))[0]
        data, labels = torch.from_numpy(data), torch.from_numpy(labels)
    else:
        step = minicnn_step_fns("LeNet-5", 64, (1, 28, 28))[0]

    def epoch():
        for i in range(0, images, 64):
            step(data[i:i + 64], labels[i:i + 64])

    return {"epoch": epoch}


# -- peak memory, one subprocess per library and configuration ----------------------------------

def vm_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def child_memory(spec):
    """Runs in the subprocess: build, 3 training steps, report RSS before and VmHWM after."""
    lib, name = spec.split(":")
    batch, shape = next((b, s) for n, b, s in CONFIGS if n == name)
    if lib == "torch":
        import torch

        torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", "0")) or
                              os.cpu_count())  # as the torch worker
        step, _, _ = torch_step_fns(torch, name, batch, shape)
    else:
        import minicnn

        configure_minicnn(minicnn)
        step, _, _ = minicnn_step_fns(name, batch, shape)
    before = vm_kib("VmRSS")
    for _ in range(3):
        step()
    print(json.dumps({"before": before, "peak": vm_kib("VmHWM")}))


def memory(lib, name, threads):
    env = dict(os.environ, BENCH_TORCH_THREADS=str(threads))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", f"{lib}:{name}"],
                         check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


# -- main tables --------------------------------------------------------------------------------

def throughput_rows(args, libs):
    rows, mem_rows = [], []
    threads = args.threads or os.cpu_count()  # the torch worker's torch.set_num_threads
    for name, batch, _ in CONFIGS:
        setup_all(libs, "bench_train.train_case", name)
        first = libs["minicnn"].time("train step")[0]  # also the warm-up; sets the repeat count
        n = args.repeat or (2 if args.quick else max(5, min(40, int(8 / max(first, 1e-3)))))
        for label in ("train step", "inference"):
            times = alternate({lib: (worker, label) for lib, worker in libs.items()}, n,
                              warmup=1)
            ips = {k: batch / median(v) for k, v in times.items()}
            t = ips.get("torch")
            rows.append([f"{name} {label}, batch {batch}", fmt(ips["minicnn"], ".0f"),
                         fmt(median(times["minicnn"]) * 1e3, ".1f"), fmt(t, ".0f"),
                         fmt(ips["minicnn"] / t if t else None) + ("×" if t else ""),
                         str(n)])
        mem = {lib: memory(lib, name, threads) for lib in libs}
        mem_row = [f"{name} train step, batch {batch}"]
        for lib in ("minicnn", "torch"):
            m = mem.get(lib)
            mem_row += ([fmt(m["peak"] / 1024, ".0f"), fmt((m["peak"] - m["before"]) / 1024,
                                                              ".0f")] if m else ["—", "—"])
        if "torch" in mem:
            mc_m, t_m = mem["minicnn"], mem["torch"]
            mem_row += [fmt(mc_m["peak"] / t_m["peak"]) + "×",
                        fmt((mc_m["peak"] - mc_m["before"]) / max(t_m["peak"] - t_m["before"], 1))
                        + "×"]
        else:
            mem_row += ["—", "—"]
        mem_rows.append(mem_row)
    return rows, mem_rows


def epoch_rows(args, libs):
    """Each library's whole epoch in turn, in its own worker (rounds alternate the libraries)."""
    images = 6_000 if args.quick else 60_000
    rounds = 1 if args.quick else 3
    setup_all(libs, "bench_train.epoch_case", images)
    # Each round is timed alone so that the host's "steal" during it can be shown beside it:
    # a round during which the hypervisor took the CPUs away says little about either library.
    times = {lib: [] for lib in libs}
    steals = {lib: [] for lib in libs}
    for _ in range(rounds):
        for lib, worker in libs.items():
            before = cpu_times()
            times[lib] += alternate({lib: (worker, "epoch")}, 1, warmup=0, lead=0,
                                    lead_seconds=0)[lib]
            steals[lib].append(steal_share(before, cpu_times()))
    rows = []
    for lib, seconds in times.items():
        per_round = " ".join(f"{t:.2f}" + ("" if steal is None else f" ({steal:.0%})")
                             for t, steal in zip(seconds, steals[lib], strict=True))
        rows.append([f"LeNet-5 epoch, {images:,} images, batch 64, {lib}",
                     fmt(median(seconds), ".2f"), fmt(images / median(seconds), ".0f"),
                     per_round])
    setup_all(libs, "bench_train.epoch_case", 0)  # frees the data
    return rows


# -- threading study and profile ----------------------------------------------------------------

THREAD_SNIPPET = r"""
import json, os, statistics, sys, time
import numpy as np
import minicnn
from minicnn import models, nn, optim
seconds, threads = float(sys.argv[1]), json.loads(sys.argv[2])
if os.environ.get("BENCH_PROCESS_SETTINGS", "1") == "1":
    minicnn.fast.configure_process()
if threads:
    minicnn.set_num_threads(threads[0], blas=threads[1])
if os.environ.get("BENCH_MIN_PARALLEL_WORK"):
    from minicnn.fast import tuning
    tuning.MIN_PARALLEL_WORK = int(os.environ["BENCH_MIN_PARALLEL_WORK"])
rng = np.random.default_rng(0)
def training_step(model, batch, shape):
    for layer in model.modules():  # every convolution by one method, if the setting says so
        if isinstance(layer, nn.Conv2d):
            layer.method = os.environ.get("BENCH_CONV_METHOD", "auto")
    x = rng.standard_normal((batch, *shape), dtype=np.float32); y = rng.integers(0, 10, batch)
    loss_fn = nn.CrossEntropyLoss(); opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    def step():
        loss_fn(model(x), y); opt.zero_grad(); model.backward_params(loss_fn.backward()); opt.step()
    return step
def med(fn):
    fn(); ts = []; end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(ts) < 3:
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)
lenet = training_step(models.lenet5(), 64, (1, 28, 28))
resnet = training_step(models.resnet20(), 128, (3, 32, 32))
print(json.dumps({"lenet": 64 / med(lenet), "resnet": 128 / med(resnet),
                  "threads": minicnn.get_num_threads()}))
"""

THREAD_SETTINGS = [  # label, environment, (kernel threads, BLAS threads) or None: the defaults
    ("(a) library defaults", {}, None),
    ("(b) kernels 1 / BLAS 2", {}, (1, 2)),
    ("(c) kernels 2 / BLAS 1", {}, (2, 1)),
    ("(d) kernels 1 / BLAS 1", {}, (1, 1)),
    ("(e) defaults, every kernel call split, however small", {"BENCH_MIN_PARALLEL_WORK": "0"},
     None),
    ("(f) defaults, freed memory returned to the system", {"MINICNN_KEEP_FREED_MEMORY": "0"},
     None),
    ("(g) defaults, OpenBLAS's own spin (2**28 cycles)", {"OPENBLAS_THREAD_TIMEOUT": "28"},
     None),
    ("(h) defaults, every convolution by im2col", {"BENCH_CONV_METHOD": "im2col"}, None),
    ("(i) without configure_process (neither setting)", {"BENCH_PROCESS_SETTINGS": "0"}, None),
]


def threading_study(args):
    """Each thread setting in its own fresh process, the settings interleaved round by round."""
    rounds = 1 if args.quick else (args.repeat or 3)
    seconds = 1.0 if args.quick else 3.0
    base = {k: v for k, v in os.environ.items()
            if k not in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                         "MINICNN_KEEP_FREED_MEMORY", "OPENBLAS_THREAD_TIMEOUT",
                         "BENCH_CONV_METHOD", "BENCH_MIN_PARALLEL_WORK")}
    results = {label: [] for label, _, _ in THREAD_SETTINGS}
    for _ in range(rounds):
        for label, env, threads in THREAD_SETTINGS:
            out = subprocess.run([sys.executable, "-c", THREAD_SNIPPET, str(seconds),
                                  json.dumps(threads)],
                                 check=True, capture_output=True, text=True,
                                 env={**base, **env}).stdout
            results[label].append(json.loads(out.strip().splitlines()[-1]))
    rows = []
    for label, runs in results.items():
        used = runs[0]["threads"]
        rows.append([label, f"{used['kernels']} / {used['blas']}",
                     fmt(median([r["lenet"] for r in runs]), ".0f"),
                     " ".join(f"{r['lenet']:.0f}" for r in runs),
                     fmt(median([r["resnet"] for r in runs]), ".0f"),
                     " ".join(f"{r['resnet']:.0f}" for r in runs)])
    print_table(f"Thread settings, training images/s (each in a fresh process, {rounds} "
                f"interleaved rounds)",
                ["setting", "kernel / BLAS threads", "LeNet-5, batch 64", "per round",
                 "ResNet-20, batch 128", "per round"], rows, args.markdown)


def profile(args):
    """Time each top-level layer of a LeNet-5 step, forward and backward separately."""
    import numpy as np

    import minicnn
    from minicnn import nn, optim

    configure_minicnn(minicnn)  # as the workers do: without it, page faults of fresh arrays
    _, _, model = minicnn_step_fns("LeNet-5", 64, (1, 28, 28))
    layers = [*model.features, model.flatten, *model.classifier]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    n = args.repeat or (20 if args.quick else 200)
    fwd = [[] for _ in layers]
    bwd = [[] for _ in layers]
    other = {"loss fwd+bwd": [], "zero_grad + SGD step": [], "whole step": []}
    for _ in range(n + 5):
        t_step = time.perf_counter()
        h = x
        for i, layer in enumerate(layers):
            t = time.perf_counter()
            h = layer(h)
            fwd[i].append(time.perf_counter() - t)
        t = time.perf_counter()
        loss_fn(h, y)
        g = loss_fn.backward()
        other["loss fwd+bwd"].append(time.perf_counter() - t)
        t = time.perf_counter()
        opt.zero_grad()
        other["zero_grad + SGD step"].append(time.perf_counter() - t)
        for i in reversed(range(len(layers))):
            t = time.perf_counter()
            g = layers[i].backward(g) if i else layers[i].backward_params(g)  # as a step does
            bwd[i].append(time.perf_counter() - t)
        t = time.perf_counter()
        opt.step()
        other["zero_grad + SGD step"][-1] += time.perf_counter() - t
        other["whole step"].append(time.perf_counter() - t_step)
    rows = []
    for i, layer in enumerate(layers):
        f, b = median(fwd[i][5:]) * 1e3, median(bwd[i][5:]) * 1e3
        rows.append([f"{i:2d} {layer!r}"[:60], fmt(f, ".3f"), fmt(b, ".3f"), fmt(f + b, ".3f")])
    for key, values in other.items():
        rows.append([key, "", "", fmt(median(values[5:]) * 1e3, ".3f")])
    total = median(other["whole step"][5:])
    print_table(f"LeNet-5 training step, batch 64, per layer (median of {n}; "
                f"{64 / total:.0f} img/s)", ["layer", "fwd ms", "bwd ms", "sum ms"], rows,
                args.markdown)


def main():
    args = parse_args(__doc__.splitlines()[0], extra_flags)
    if args.child:
        return child_memory(args.child)
    print(cpu_line())
    print(version_line())
    if args.threading:
        return threading_study(args)
    if args.profile:
        return profile(args)
    with workers(args, ("minicnn", "torch")) as libs:
        print("One worker process per library (each imports only its own):")
        print("\n".join(worker_lines(libs)))
        if "torch" not in libs:
            print("PyTorch not benchmarked: its columns are left empty")
        rows, mem_rows = throughput_rows(args, libs)
        print_table("Training and inference throughput (images/s; ratio = minicnn / torch, "
                    "above 1: minicnn faster)",
                    ["model", "minicnn img/s", "minicnn ms/batch", "torch img/s", "ratio", "n"],
                    rows, args.markdown)
        print_table("Peak memory of a training step, MiB (VmHWM of a fresh process; 'step' = "
                    "peak minus RSS before the first step)",
                    ["model", "minicnn peak", "minicnn step", "torch peak", "torch step",
                     "peak ratio", "step ratio"], mem_rows, args.markdown)
        print_table("One LeNet-5 epoch (random MNIST-sized data; seconds: median of the rounds)",
                    ["run", "seconds", "img/s", "per round (host steal)"], epoch_rows(args, libs),
                    args.markdown)


if __name__ == "__main__":
    main()
