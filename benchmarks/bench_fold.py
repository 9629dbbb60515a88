"""Inference with and without folding batch norm into the convolution (minicnn/nn/_fold.py).

In eval mode under ``no_grad`` the fast engine computes Conv2d → BatchNorm2d (→ ReLU) as one
convolution with folded weights. This script runs whole inference passes (float32) in one
process with folding on and off (``minicnn.fast.tuning.FOLD_BATCH_NORM``), alternating blocks
of passes so that both see the same machine load, and prints the median pass of each, their
ratio, and how many convolutions were folded per pass. ``--batch N`` replaces the batch sizes
(``--batch 1``: where ``FOLD_MIN_OUTPUTS_PER_WEIGHT`` decides).

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
    blocks = 2 if args.quick else (args.repeat or 12)
    rows = []
    for name, batch, shape in CONFIGS:
        batch = args.batch or batch
        infer = inference(name, batch, shape)
        infer()  # compile, allocate
        folded = folds_per_pass(infer)
        passes_per_block = max(2, int(0.3 / _time(infer)))
        times = {True: [], False: []}
        for _ in range(blocks):
            for setting in (True, False):
                tuning.FOLD_BATCH_NORM = setting
                infer()
                times[setting] += [_time(infer) for _ in range(passes_per_block)]
        tuning.FOLD_BATCH_NORM = True
        on, off = median(times[True]), median(times[False])
        rows.append([f"{name}, batch {batch}", fmt(off * 1e3), fmt(on * 1e3),
                     f"{off / on:.3f}×", str(folded)])
    print(version_line())
    print(cpu_line())
    print_table(f"Inference with and without folding batch norm (median ms per pass; {blocks} "
                f"alternated blocks of passes each)",
                ["model", "fold off", "fold on", "speed-up", "convolutions folded"], rows,
                args.markdown)


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
