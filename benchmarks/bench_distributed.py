"""Data-parallel training on one machine: 1 process with T threads against T ranks with 1 each.

    .venv/bin/python benchmarks/bench_distributed.py [--quick] [--steps N] [--batch B]

Prints, for LeNet-5 (MNIST-sized input) and ResNet-20 (CIFAR-sized input), the training
images/s (forward, backward, SGD step; global batch B split over the ranks) of

* 1 process, 1 thread (the baseline),
* 1 process, ``T`` threads (``T`` = the usable cores), and
* ``T`` MPI ranks (``mpiexec -n T python -m mpi4py``), 1 thread each, gradients all-reduced,

then the gradient bytes each step all-reduces for VGG19 (ImageNet) and ResNet-20 (CIFAR-10),
the figure that decides whether training over several machines can pay: a ring all-reduce
sends and receives about 2 (p-1)/p times those bytes per rank and step.
Figures: docs/distributed.md. The data are random (the speed does not depend on them).
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
MODELS = {"lenet5": (1, 28), "resnet20": (3, 32)}  # in_channels, input size


def worker(model_name: str, steps: int, batch: int) -> None:
    """Train ``steps`` steps (after 2 warm-up steps) and print images/s on rank 0."""
    import numpy as np

    import minicnn
    from minicnn import distributed, models, nn, optim

    minicnn.fast.configure_process()
    ranks = 1
    if os.environ.get("PMI_RANK") is not None:  # started by mpiexec
        distributed.init()
        ranks = distributed.world_size()
    minicnn.manual_seed(0)
    channels, size = MODELS[model_name]
    model = getattr(models, model_name)()
    if ranks > 1:
        model = distributed.DistributedDataParallel(model)
    rank = distributed.rank() if ranks > 1 else 0
    local = len(np.array_split(np.arange(batch), ranks)[rank])
    rng = np.random.default_rng(rank)
    x = rng.standard_normal((local, channels, size, size)).astype(np.float32)
    y = rng.integers(0, 10, local)
    loss_fn, opt = nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss_fn(model(x), y)
        opt.zero_grad()
        model.backward_params(loss_fn.backward())
        opt.step()

    for _ in range(2):
        step()
    if ranks > 1:
        distributed.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start  # rank 0's: the all-reduce keeps the ranks in step
    if rank == 0:
        print(f"RESULT {batch * steps / seconds:.1f}")


def run(model_name: str, steps: int, batch: int, ranks: int, threads: int) -> float:
    env = dict(os.environ, **dict.fromkeys(THREAD_VARS, str(threads)))
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "mpi4py", __file__, "--worker", model_name,
               "--steps", str(steps), "--batch", str(batch)]
    if ranks > 1:
        command = [os.path.join(os.path.dirname(sys.executable), "mpiexec"), "-n", str(ranks),
                   *command]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return float(next(line for line in out.splitlines() if line.startswith("RESULT")).split()[1])


def gradient_bytes() -> None:
    sys.path.insert(0, ROOT)
    from minicnn import models

    print("\ngradient bytes all-reduced per step (float32)")
    for name, model in (("VGG19 (ImageNet, 224 px)", models.vgg19()),
                        ("ResNet-20 (CIFAR-10)", models.resnet20())):
        count = sum(p.size for p in model.parameters() if p.requires_grad)
        print(f"  {name:26} {count:>12,} parameters  {count * 4 / 2**20:>9.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=sorted(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20)")
    parser.add_argument("--batch", type=int, default=64, help="global batch size")
    parser.add_argument("--quick", action="store_true", help="few steps, LeNet-5 only")
    parser.add_argument("--no-torch", action="store_true", help="(accepted; torch is not used)")
    args = parser.parse_args()
    steps = args.steps or (2 if args.quick else 20)
    if args.worker:
        worker(args.worker, steps, args.batch)
        return
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} usable cores, global batch {args.batch}, {steps} timed steps, "
          f"load average {os.getloadavg()[0]:.1f}")
    one_process, ranks = f"1 process x {cores} threads", f"{cores} ranks x 1 thread"
    print(f"{'model':10} {'1 process x 1 thread':>22} {one_process:>24} {ranks:>22}")
    for name in (["lenet5"] if args.quick else list(MODELS)):
        single = run(name, steps, args.batch, ranks=1, threads=1)
        threaded = run(name, steps, args.batch, ranks=1, threads=cores)
        many = run(name, steps, args.batch, ranks=cores, threads=1)
        print(f"{name:10} {single:>16,.0f} img/s {threaded:>18,.0f} img/s "
              f"{many:>16,.0f} img/s")
    gradient_bytes()


if __name__ == "__main__":
    main()
