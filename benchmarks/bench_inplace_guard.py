"""What the in-place guard costs a training step (minicnn/nn/_kept_arrays.py).

Each training step fingerprints, at forward, the arrays that the layers' caches share with
something the caller holds (inputs, outputs, parameters), and again at backward. This script
runs whole training steps (forward, loss, backward, SGD with momentum; float32) in one process
with the guard on and off (off: the guard's two functions replaced by no-ops), alternating
blocks of steps so that both see the same machine load, and prints the median step of each,
their ratio, and what the guard fingerprinted per step.

    .venv/bin/python benchmarks/bench_inplace_guard.py [--quick] [--repeat N] [--markdown]
"""

import time

import numpy as np
from _common import configure_minicnn, cpu_line, fmt, median, parse_args, print_table, version_line

CONFIGS = [("LeNet-5", 64, (1, 28, 28)), ("ResNet-20", 128, (3, 32, 32)),
           ("VGG-11-BN", 64, (3, 32, 32))]


def training_step(name, batch, shape):
    from minicnn import models, nn, optim

    builders = {"LeNet-5": models.lenet5, "ResNet-20": models.resnet20,
                "VGG-11-BN": lambda: models.vgg11(num_classes=10, input_size=32, batch_norm=True)}
    model = builders[name]()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *shape), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss_fn(model(x), y)
        opt.zero_grad()
        model.backward_params(loss_fn.backward())
        opt.step()
    return step


def guarded_bytes(step):
    """The sizes of the arrays one step fingerprints (each is fingerprinted twice)."""
    from minicnn.nn import module

    sizes, original = [], module.keep

    def counting(*arguments):
        kept = original(*arguments)
        sizes.extend(record[1].nbytes for record in kept)
        return kept
    module.keep = counting
    try:
        step()
    finally:
        module.keep = original
    return sizes


def main():
    args = parse_args(__doc__.splitlines()[0])
    import minicnn
    from minicnn.fast.guard import fingerprint as fast_fingerprint
    from minicnn.nn import module

    configure_minicnn(minicnn)
    guard = (module.keep, module.check_unchanged)
    no_guard = (lambda *arguments: (), lambda where, kept: None)
    blocks = 2 if args.quick else (args.repeat or 12)
    rows = []
    for name, batch, shape in CONFIGS:
        step = training_step(name, batch, shape)
        step()  # compile, allocate
        sizes = guarded_bytes(step)
        arrays = [np.ones(n, np.uint8) for n in sizes]
        alone = median([_time(lambda arrays=arrays: [fast_fingerprint(a) for a in arrays])
                        for _ in range(5)])
        steps_per_block = max(2, int(0.5 / _time(step)))
        times = {"on": [], "off": []}
        for _ in range(blocks):
            for label, functions in (("on", guard), ("off", no_guard)):
                module.keep, module.check_unchanged = functions
                step()
                times[label] += [_time(step) for _ in range(steps_per_block)]
        module.keep, module.check_unchanged = guard
        on, off = median(times["on"]), median(times["off"])
        rows.append([f"{name}, batch {batch}", fmt(off * 1e3), fmt(on * 1e3), f"{on / off:.3f}×",
                     f"{len(sizes)}", f"{sum(sizes) / 2**20:.1f}", fmt(2 * alone * 1e3)])
    print(version_line())
    print(cpu_line())
    print_table(f"Training step with and without the in-place guard (median ms; {blocks} "
                f"alternated blocks of steps each)",
                ["model", "guard off", "guard on", "on / off", "arrays guarded", "MiB guarded",
                 "fingerprints alone, ms/step"], rows, args.markdown)


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
