"""Inference with and without folding batch norm into the convolution (minicnn/nn/_fold.py).

In eval mode under ``no_grad`` the fast engine computes Conv2d → BatchNorm2d (→ ReLU) as one
convolution with folded weights. This script runs whole inference passes (float32) in one
process with folding on and off (``minicnn.fast.tuning.FOLD_BATCH_NORM``), alternating pass by
pass so that both see the same machine load, and prints the median pass of each, the median of
the pairs' ratios (off / on: robust to load that drifts between pairs), the same for the
process's CPU time (all its threads; on a machine shared with other work it counts the work
done rather than the waiting), and how many convolutions were folded per pass. LeNet-5 has no
batch norm: its ratio shows the noise. ``--batch N`` replaces the batch sizes (``--batch 1``:
where ``FOLD_MIN_OUTPUTS_PER_WEIGHT`` decides).

    .venv/bin/python benchmarks/bench_fold.py [--quick] [--repeat N] [--batch N] [--markdown]
"""

import time

import numpy as np
from _common import configure_minicnn, cpu_line, fmt, median, parse_args, print_table, version_line

CONFIGS = [("LeNet-5", 64, (1, 28, 28)), ("ResNet-20", 128, (3, 32, 32)),
           ("VGG-11-BN", 64, (3, 32, 32))]  # bench_train.py's


def inference(name, batch, shape):
    from minicnn import models, no_grad

    builders = {"LeNet-5": models.lenet5, "ResNet-20": models.resnet20,
                "VGG-11-BN": lambda: models.vgg11(num_classes=10, input_size=32, batch_norm=True)}
    model = builders[name]().eval()
    x = np.random.default_rng(0).standard_normal((batch, *shape), dtype=np.float32)

    def infer():
        with no_grad():
            model(x)
    return infer


def folds_per_pass(infer) -> int:
    """How many Conv2d → BatchNorm2d pairs one pass computes as one convolution."""
    from minicnn.fast import fold

    calls, original = [], fold.fold_conv_bn

    def counting(*arguments):
        calls.append(1)
        return original(*arguments)
    fold.fold_conv_bn = counting
    try:
        infer()
    finally:
        fold.fold_conv_bn = original
    return len(calls)


def extra_flags(parser):
    parser.add_argument("--batch", type=int, default=None, help="batch size of every model")


def main():
    args = parse_args(__doc__.splitlines()[0], extra_flags)
    import minicnn
    from minicnn.fast import tuning

    configure_minicnn(minicnn)
    blocks = 2 if args.quick else (args.repeat or 40)  # pairs of passes, at least
    rows = []
    for name, batch, shape in CONFIGS:
        batch = args.batch or batch
        infer = inference(name, batch, shape)
        infer()  # compile, allocate
        folded = folds_per_pass(infer)
        pairs = max(blocks, int(blocks * 0.3 / _time(infer)))  # cheap passes: more pairs
        times = {True: [], False: []}
        for pair in range(pairs):
            for setting in (True, False) if pair % 2 else (False, True):
                tuning.FOLD_BATCH_NORM = setting
                times[setting].append(_times(infer))
        tuning.FOLD_BATCH_NORM = True
        row = [f"{name}, batch {batch}"]
        for clock in (0, 1):  # wall, then CPU
            on = [t[clock] for t in times[True]]
            off = [t[clock] for t in times[False]]
            ratio = median([b / a for a, b in zip(on, off, strict=True)])
            row += [fmt(median(off) * 1e3), fmt(median(on) * 1e3), f"{ratio:.3f}×"]
        rows.append([*row, str(folded), str(pairs)])
    print(version_line())
    print(cpu_line())
    print_table("Inference with and without folding batch norm (median ms per pass; speed-up: "
                "median of the pairs' off / on)",
                ["model", "fold off", "fold on", "speed-up", "CPU ms off", "CPU ms on",
                 "CPU speed-up", "convolutions folded", "pairs"],
                rows, args.markdown)


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _times(fn) -> tuple[float, float]:
    """Seconds of wall-clock and of this process's CPU time that ``fn()`` takes."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


if __name__ == "__main__":
    main()
