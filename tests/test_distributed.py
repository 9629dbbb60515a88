"""minicnn.distributed: data-parallel training over MPI, run for real with ``mpiexec -n 2/3``.

Each test writes a small script into tmp_path and runs it under ``mpiexec -n N python -m
mpi4py``, one thread per rank. Checked:

* after several SGD steps (momentum, weight decay) the replicas' parameters equal those of
  one process trained on the whole batch to 1e-6 in float64, and are bit-identical across
  ranks (``in_sync``), also when the ranks' batches differ in size (7 samples on 2 or 3 ranks),
  and with ``shard_loader`` against one loader of world_size times the batch size;
* construction broadcasts rank 0's parameters (ranks seeded differently start equal);
  BatchNorm running statistics stay per rank while the parameters stay in sync;
* state-dict keys are prefixed ``module.`` (PyTorch), ``ddp.module`` is the model;
* only rank 0 prints when the script asks ``is_main()``;
* one rank raising ends all ranks within the timeout with the error text in the output,
  under ``python -m mpi4py`` and under plain ``python`` after ``distributed.init()``;
* without mpi4py: an ImportError naming ``pip install "minicnn[distributed]"``;
* ``SyncBatchNorm`` on each rank's part of a batch equals ``BatchNorm2d``/``BatchNorm1d`` on
  all of it to 1e-10 in float64 (outputs, input gradients, parameter gradients averaged as
  DistributedDataParallel does, running statistics; uneven parts, a part of one sample), does
  not synchronise in eval(), and a network with it trained in DistributedDataParallel on
  uneven shards equals one process with BatchNorm2d on the whole batch (both engines);
* ``shard_loader`` ranks augment differently (a shared stream would make every pair of images
  equal; the test runs that too) and reproducibly (the same checksum in a second run);
* the examples (slow): LeNet-5 and Fashion ResNet-20 (with ``--sync-bn``) train on 2 ranks,
  rank 0 alone printing and writing the plain model; the U-Net with ``--sync-bn`` on 2 ranks
  with batches of 4 has the losses of one process with batches of 8 (to 2e-5 relative);
  plain_vs_residual.py (its own loop, with --sync-bn) and transfer_learning.py on 2 ranks
  record the step losses, gradient norms, epoch losses and accuracies of one process with
  twice the batch (to 1e-5 relative), rank 0 alone printing and writing.

A failure shows the script's output; a hang shows as subprocess.TimeoutExpired.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn import distributed, models

MPIEXEC = Path(sys.executable).parent / "mpiexec"
TIMEOUT = 60

# Run the same steps on a DistributedDataParallel model with this rank's part of each batch,
# and (on every rank, cheap) on a plain copy with the whole batch; compare on rank 0.
TRAINING = """
import sys
import numpy as np
import minicnn
from minicnn import data, distributed, nn, optim

distributed.init()
rank, world = distributed.rank(), distributed.world_size()

def build():
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 5)).astype(np.float64)

minicnn.manual_seed(0)
reference = build()
minicnn.manual_seed(100 + rank)          # each rank draws other weights: broadcast must fix it
ddp = distributed.DistributedDataParallel(build())
# every rank's reference starts from rank 0's weights (the broadcast, or the diff shows it)
reference.load_state_dict(ddp.module.state_dict())
assert list(ddp.state_dict()) == ["module." + k for k in reference.state_dict()]

loss_fn = nn.CrossEntropyLoss()
def sgd(params):
    return optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3)
opt, ref_opt = sgd(ddp.parameters()), sgd(reference.parameters())

def step(model, optimizer, x, y):
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    model.backward(loss_fn.backward())
    optimizer.step()

rng = np.random.default_rng(7)
MODE = sys.argv[1]
if MODE == "uneven":                    # 7 samples a step, split 4/3 or 3/2/2
    for _ in range(5):
        x = rng.standard_normal((7, 2, 4, 4)); y = rng.integers(0, 5, 7)
        part = np.array_split(np.arange(7), world)[rank]
        step(ddp, opt, x[part], y[part])
        step(reference, ref_opt, x, y)
else:                                   # shard_loader against one loader, world x the batch
    x = rng.standard_normal((12, 2, 4, 4)); y = rng.integers(0, 5, 12)
    loader = distributed.shard_loader(data.DataLoader((x, y), batch_size=2, shuffle=True,
                                                      seed=rank))   # rank 0's seed wins
    whole = data.DataLoader((x, y), batch_size=2 * world, shuffle=True, seed=0)
    assert len(loader) == len(whole)
    for _ in range(2):
        for (xb, yb), (xw, yw) in zip(loader, whole):
            step(ddp, opt, xb, yb)
            step(reference, ref_opt, xw, yw)

diff = max(float(np.max(np.abs(p.data - q.data)))
           for p, q in zip(ddp.parameters(), reference.parameters()))
in_sync = ddp.in_sync()
if distributed.is_main():
    print(f"RESULT world={world} diff={diff:.3e} in_sync={in_sync}")
"""


def run_mpi(tmp_path, source, ranks, *args, runner=("-m", "mpi4py"), engine="reference"):
    """Run ``source`` (a script's text, or the Path of a script) on ``ranks`` ranks."""
    script = source
    if not isinstance(source, Path):
        script = tmp_path / "script.py"
        script.write_text(textwrap.dedent(source))
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MINICNN_ENGINE=engine)
    return subprocess.run([str(MPIEXEC), "-n", str(ranks), sys.executable, *runner,
                           str(script), *args], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=tmp_path)


def result_line(completed):
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    # anywhere in the output: the ranks' prints interleave, a line may run into another's
    found = re.findall(r"RESULT((?: \w+=\S+)+)", completed.stdout)
    assert len(found) == 1, output  # printed by rank 0 only
    return dict(field.split("=") for field in found[0].split())


@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("mode", ["uneven", "shard_loader"])
def test_ranks_match_one_process_on_the_whole_batch(tmp_path, ranks, mode):
    result = result_line(run_mpi(tmp_path, TRAINING, ranks, mode))
    assert result["world"] == str(ranks)
    assert float(result["diff"]) < 1e-6
    assert result["in_sync"] == "True"


def test_fast_engine_matches_too(tmp_path):
    result = result_line(run_mpi(tmp_path, TRAINING, 2, "uneven", engine="fast"))
    assert float(result["diff"]) < 1e-6 and result["in_sync"] == "True"


BATCHNORM = """
import numpy as np
import minicnn
from minicnn import distributed, nn, optim

distributed.init()
rank = distributed.rank()
minicnn.manual_seed(rank)
model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                      nn.Linear(2 * 2 * 2, 3))
ddp = distributed.DistributedDataParallel(model)
bn = ddp.module[1]
opt = optim.SGD(ddp.parameters(), lr=0.1)
loss_fn = nn.CrossEntropyLoss()
rng = np.random.default_rng(rank)        # each rank its own data
for _ in range(3):
    x = rng.standard_normal((4, 1, 4, 4)).astype(np.float32) + rank
    loss = loss_fn(ddp(x), rng.integers(0, 3, 4))
    opt.zero_grad()
    ddp.backward(loss_fn.backward())
    opt.step()
means = distributed.all_reduce_sum(bn.running_mean)
differ = not np.allclose(bn.running_mean, means / 2)
sync = ddp.in_sync()
assert int(bn.num_batches_tracked) == 3
if distributed.is_main():
    print(f"RESULT in_sync={sync} running_stats_differ={differ}")
"""


def test_batchnorm_statistics_stay_per_rank(tmp_path):
    result = result_line(run_mpi(tmp_path, BATCHNORM, 2))
    assert result == {"in_sync": "True", "running_stats_differ": "True"}


RAISING = """
import time
import numpy as np
from minicnn import distributed, nn

distributed.init()
ddp = distributed.DistributedDataParallel(nn.Linear(3, 2))
if distributed.rank() == 1:
    raise ValueError("boom on rank 1")
time.sleep(0.5)                          # rank 0 then waits in the gradient all-reduce
ddp(np.ones((2, 3), np.float32))
ddp.backward(np.ones((2, 2), np.float32))
print("rank 0 finished: the fault went unnoticed")
"""


@pytest.mark.parametrize("runner", [("-m", "mpi4py"), ()], ids=["python-m-mpi4py", "python"])
def test_one_rank_raising_ends_every_rank(tmp_path, runner):
    completed = run_mpi(tmp_path, RAISING, 2, runner=runner)  # TimeoutExpired if it hangs
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    assert "ValueError: boom on rank 1" in output
    assert "fault went unnoticed" not in output


def test_missing_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # makes `from mpi4py import MPI` fail
    with pytest.raises(ImportError, match=r'pip install "minicnn\[distributed\]"'):
        distributed.world_size()


def test_is_initialized_is_false_without_mpi_and_imports_nothing():
    code = ("import sys; from minicnn import distributed; "
            "print(distributed.is_initialized(), 'mpi4py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]


def test_importing_the_module_does_not_import_mpi4py():
    code = "import minicnn.distributed, sys; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


THREADS = """
import json
import os
from minicnn import distributed
from minicnn.fast.threads import get_num_threads

distributed.init()
threads = get_num_threads()
print(f"RANK{distributed.rank()} kernels={threads['kernels']} blas={threads['blas']}")
"""


def run_threads_script(tmp_path, **threads):
    script = tmp_path / "script.py"
    script.write_text(THREADS)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    completed = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, "-m", "mpi4py",
                                str(script)], env={**env, **threads}, capture_output=True,
                               text=True, timeout=TIMEOUT)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def test_init_splits_the_cores_between_ranks_unless_told(tmp_path):
    each = max(1, len(os.sched_getaffinity(0)) // 2)
    out = run_threads_script(tmp_path)
    assert f"RANK0 kernels={each} blas={each}" in out
    assert f"RANK1 kernels={each} blas={each}" in out
    told = 2 if each == 1 else 1  # the user's setting wins: one the split would not give
    out = run_threads_script(tmp_path, NUMBA_NUM_THREADS=str(told),
                             OPENBLAS_NUM_THREADS=str(told))
    assert out.count(f"kernels={told} blas={told}") == 2, out


FIT = """
import json
import os
import numpy as np
import minicnn
from minicnn import data, distributed, nn, optim
from minicnn.train import evaluate, fit

distributed.init()
rank = distributed.rank()
minicnn.manual_seed(0)
ddp = distributed.DistributedDataParallel(
    nn.Sequential(nn.Flatten(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3)))
rng = np.random.default_rng(1)
x = rng.standard_normal((24, 2, 2, 2)).astype(np.float32); y = rng.integers(0, 3, 24)
train = distributed.shard_loader(data.DataLoader((x[:12], y[:12]), batch_size=3, shuffle=True))
val = data.DataLoader((x[12:], y[12:]), batch_size=4, shard=(rank, distributed.world_size()))
loss_fn = nn.CrossEntropyLoss()
history = fit(ddp, loss_fn, optim.SGD(ddp.parameters(), lr=0.1), train, epochs=2,
              val_loader=val, checkpoint_path=f"checkpoint{rank}.npz")
sharded = evaluate(ddp, val, loss_fn)
whole = evaluate(ddp.module, data.DataLoader((x[12:], y[12:]), batch_size=5), loss_fn)
same = ddp.sum_over_ranks(history.train_loss + history.val_acc) / distributed.world_size()
print(f"RANK{rank} agree={np.allclose(same, history.train_loss + history.val_acc)}")
if rank == 0:
    print(f"RESULT loss_diff={abs(sharded.loss - whole.loss):.2e} "
          f"acc_diff={abs(sharded.accuracy - whole.accuracy):.2e} "
          f"val_matches_history={np.isclose(history.val_loss[-1], sharded.loss)}")
"""


@pytest.mark.parametrize("ranks", [2, 3])
def test_fit_and_evaluate_report_all_ranks_and_print_on_rank_0(tmp_path, ranks):
    completed = run_mpi(tmp_path, FIT, ranks)
    result = result_line(completed)
    assert float(result["loss_diff"]) < 1e-6 and float(result["acc_diff"]) == 0
    assert result["val_matches_history"] == "True"
    assert all(f"RANK{r} agree=True" in completed.stdout for r in range(ranks))
    for epoch in (1, 2):  # the epoch lines of fit: once, from rank 0
        assert completed.stdout.count(f"epoch   {epoch}/2") == 1, completed.stdout
    assert sorted(p.name for p in tmp_path.glob("checkpoint*")) == ["checkpoint0.npz"]


@pytest.mark.slow
def test_example_script_trains_on_two_ranks(tmp_path):
    """``mpiexec -n 2 python -m mpi4py examples/train_mnist_lenet.py --distributed`` on a
    small subset: rank 0 alone reports and writes, and the saved model is the plain LeNet-5."""
    data_dir = os.environ.get("MINICNN_DATA") or Path(__file__).parents[2] / "shared" / "data"
    if "MINICNN_DATA" not in os.environ and not (Path(data_dir) / "mnist").is_dir():
        pytest.skip(f"no MNIST in {data_dir} and $MINICNN_DATA is not set")
    script = Path(__file__).parents[1] / "examples" / "train_mnist_lenet.py"
    completed = run_mpi(tmp_path, script, 2, "--distributed", "--epochs", "1",
                        "--limit", "600", "--val-size", "100", "--out", str(tmp_path / "run"),
                        "--quiet", "--no-download", "--data-dir", str(data_dir))
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert completed.stdout.count("test accuracy") == 1, output
    assert completed.stdout.count("wrote model.npz") == 1, output
    state = minicnn.load(tmp_path / "run" / "model.npz")
    models.lenet5().load_state_dict(state)  # strict: the keys carry no "module." prefix


# SyncBatchNorm on each rank's part of a batch against BatchNorm on all of it (float64):
# the layer alone (7 samples split 4/3 or 3/2/2, (N, C) input with a rank of 1 sample), then a
# small network in DistributedDataParallel trained for several SGD steps.
SYNC_BATCHNORM = """
import numpy as np
import minicnn
from minicnn import distributed, nn, optim

distributed.init()
rank, world = distributed.rank(), distributed.world_size()
diffs = {}

def record(name, value):
    diffs[name] = max(diffs.get(name, 0.0), float(np.max(np.abs(value))))

def layer_check(make_plain, shape, split, steps=3, group=None):
    n = shape[0]
    whole, sync = make_plain().astype(np.float64), make_plain().astype(np.float64)
    sync = nn.SyncBatchNorm.convert_sync_batchnorm(sync, process_group=group)
    assert type(sync) is nn.SyncBatchNorm
    whole.weight.data[:] = sync.weight.data[:] = np.linspace(0.5, 2, shape[1])
    part = np.split(np.arange(n), np.cumsum(split)[:-1])[rank]
    share = len(part) / n
    rng = np.random.default_rng(0)                  # the same draws on every rank
    for _ in range(steps):
        x = rng.standard_normal(shape) * 2 + 1
        dout = rng.standard_normal(shape)           # dL/dy of the whole batch's mean loss
        y = whole(x)
        record("output", sync(x[part]) - y[part])
        dx = whole.backward(dout)
        # this rank's own mean loss has n / n_r times the whole batch's gradient
        record("input_grad", share * sync.backward(dout[part] / share) - dx[part])
    for name in ("weight", "bias"):
        averaged = distributed.all_reduce_sum(share * getattr(sync, name).grad)
        record("param_grad", averaged - getattr(whole, name).grad)
    for name in ("running_mean", "running_var"):
        record("running_stats", getattr(sync, name) - getattr(whole, name))
    assert int(sync.num_batches_tracked) == steps
    # eval(): no synchronisation; each rank normalises with its running statistics
    sync.eval(); whole.eval()
    x = np.random.default_rng(10 + rank).standard_normal(shape)
    record("eval", sync(x) - whole(x))

# a process group of this rank alone: nothing to share, so BatchNorm2d on the shard; copies
# keep the group (a communicator is shared, not copied)
import copy
from mpi4py import MPI
solo = MPI.COMM_WORLD.Split(rank)
alone = copy.deepcopy(nn.SyncBatchNorm(3, process_group=solo).astype(np.float64))
assert alone.process_group is solo
x = np.random.default_rng(20 + rank).standard_normal((3, 3, 2, 2))
record("solo_group", alone(x) - nn.BatchNorm2d(3).astype(np.float64)(x))
world_group = MPI.COMM_WORLD.Dup()

splits = {2: (4, 3), 3: (3, 2, 2)}[world]
layer_check(lambda: nn.BatchNorm2d(3), (7, 3, 2, 3), splits)
layer_check(lambda: nn.BatchNorm1d(2), (world + 1, 2), (2,) + (1,) * (world - 1),
            group=world_group)

def build():
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).astype(np.float64)

minicnn.manual_seed(0)
reference = build()
ddp = distributed.DistributedDataParallel(nn.SyncBatchNorm.convert_sync_batchnorm(build()))
reference.load_state_dict(ddp.module.state_dict())   # the same start (the keys are BatchNorm's)
loss_fn = nn.CrossEntropyLoss()
opt = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
ref_opt = optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
rng = np.random.default_rng(7)
for _ in range(4):
    x = rng.standard_normal((7, 2, 4, 4)) + 0.5; y = rng.integers(0, 5, 7)
    part = np.array_split(np.arange(7), world)[rank]
    for model, optimizer, xs, ys in ((ddp, opt, x[part], y[part]), (reference, ref_opt, x, y)):
        loss_fn(model(xs), ys)
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
for p, q in zip(ddp.module.parameters(), reference.parameters()):
    record("ddp_params", p.data - q.data)
bn, ref_bn = ddp.module[1], reference[1]
record("ddp_running_stats", np.concatenate([bn.running_mean - ref_bn.running_mean,
                                            bn.running_var - ref_bn.running_var]))
in_sync = ddp.in_sync()
if distributed.is_main():
    print("RESULT " + " ".join(f"{k}={v:.3e}" for k, v in diffs.items()) + f" in_sync={in_sync}")
"""


@pytest.mark.parametrize("ranks, engine", [(2, "reference"), (3, "reference"), (2, "fast")])
def test_sync_batchnorm_on_shards_equals_batchnorm_on_the_whole_batch(tmp_path, ranks, engine):
    result = result_line(run_mpi(tmp_path, SYNC_BATCHNORM, ranks, engine=engine))
    assert result.pop("in_sync") == "True"
    assert set(result) == {"solo_group", "output", "input_grad", "param_grad",
                           "running_stats", "eval", "ddp_params", "ddp_running_stats"}
    for name, diff in result.items():
        assert float(diff) < 1e-10, (name, diff)


# Each rank augments its shard with its own stream: rank 0 gathers every rank's epoch of
# randomly cropped and flipped images, and prints a checksum of them (equal in a second run).
AUGMENTATION = """
import sys
import zlib
import numpy as np
import minicnn
from minicnn import data, distributed

distributed.init()
minicnn.manual_seed(0)
x = np.zeros((40, 1, 6, 6), np.float32)
x[:, 0, 2, 3] = 1  # one image 40 times: only the augmentation tells the copies apart
augment = data.Compose([data.RandomCrop(6, padding=2), data.RandomHorizontalFlip()])
loader = distributed.shard_loader(data.DataLoader((x, np.arange(40)), batch_size=5,
                                                  shuffle=True, transform=augment))
if sys.argv[1:] == ["shared"]:  # what it was before: every rank the epoch's one stream
    loader.augmentation_rng = lambda epoch: None
images = np.concatenate([xb for xb, _ in loader])
gathered = distributed._comm().gather(images, root=0)
if distributed.is_main():
    same = np.mean([np.array_equal(a, b) for a, b in zip(*gathered)])
    crc = zlib.crc32(np.concatenate(gathered).tobytes())
    print(f"RESULT same_fraction={same:.3f} checksum={crc}")
"""


def test_ranks_augment_differently_and_reproducibly(tmp_path):
    first = result_line(run_mpi(tmp_path, AUGMENTATION, 2))
    second = result_line(run_mpi(tmp_path, AUGMENTATION, 2))
    # 25 crop offsets times 2 flips: two independent draws agree 1 time in 50 on average;
    # with one shared stream every pair would agree
    assert float(first["same_fraction"]) < 0.25
    assert first["checksum"] == second["checksum"]
    shared = result_line(run_mpi(tmp_path, AUGMENTATION, 2, "shared"))
    assert float(shared["same_fraction"]) == 1  # the test can tell


def example_data_dir():
    data_dir = os.environ.get("MINICNN_DATA") or Path(__file__).parents[2] / "shared" / "data"
    if "MINICNN_DATA" not in os.environ and not (Path(data_dir) / "mnist").is_dir():
        pytest.skip(f"no MNIST in {data_dir} and $MINICNN_DATA is not set")
    return str(data_dir)


EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.mark.slow
def test_fashion_example_trains_on_two_ranks_with_sync_bn(tmp_path):
    """train_fashion_resnet.py --distributed --sync-bn: rank 0 alone prints and writes, and
    the saved model is the plain ResNet-20 (keys without "module.", BatchNorm's keys)."""
    data_dir = example_data_dir()
    if not (Path(data_dir) / "fashion-mnist").is_dir():
        pytest.skip(f"no Fashion-MNIST in {data_dir}")
    completed = run_mpi(tmp_path, EXAMPLES / "train_fashion_resnet.py", 2, "--distributed",
                        "--sync-bn", "--epochs", "1", "--limit", "100", "--batch-size", "20",
                        "--test-limit", "50", "--out", str(tmp_path / "run"), "--quiet",
                        "--no-download", "--data-dir", data_dir)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    for line in ("training on 80 images, validating on 20, testing on 50", "test accuracy",
                 "wrote model.npz"):
        assert completed.stdout.count(line) == 1, output
    assert json.loads((tmp_path / "run" / "history.json").read_text())["epoch"] == [1]
    state = minicnn.load(tmp_path / "run" / "model.npz")
    models.resnet20(in_channels=1, input_size=28).load_state_dict(state)  # strict


@pytest.mark.slow
def test_unet_example_on_two_ranks_with_sync_bn_equals_one_process(tmp_path):
    """train_unet_segmentation.py (BatchNorm after every convolution, no augmentation): two
    ranks with batches of 4 and --sync-bn train as one process with batches of 8; the epochs'
    losses agree to rounding (measured: 1e-6 relative; without --sync-bn 5e-4)."""
    data_dir = example_data_dir()
    script = EXAMPLES / "train_unet_segmentation.py"
    common = ["--limit", "30", "--val-size", "6", "--test-limit", "10", "--epochs", "2",
              "--quiet", "--no-download", "--data-dir", data_dir]
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MINICNN_ENGINE="reference")
    one = subprocess.run([sys.executable, str(script), *common, "--batch-size", "8", "--out",
                          str(tmp_path / "one")], env=env, capture_output=True, text=True,
                         timeout=TIMEOUT, cwd=tmp_path)
    assert one.returncode == 0, one.stdout + one.stderr
    two = run_mpi(tmp_path, script, 2, *common, "--batch-size", "4", "--distributed",
                  "--sync-bn", "--out", str(tmp_path / "two"))
    assert two.returncode == 0, two.stdout + two.stderr
    assert two.stdout.count("wrote model.npz") == 1, two.stdout
    histories = [json.loads((tmp_path / run / "history.json").read_text())
                 for run in ("one", "two")]
    for key in ("train_loss", "val_loss", "val_acc"):
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=2e-5)


def run_one_process(tmp_path, script, *args):
    """``python script args`` in one process, as ``run_mpi`` runs its ranks (threads, engine)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MINICNN_ENGINE="reference")
    completed = subprocess.run([sys.executable, str(script), *args], env=env,
                               capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


@pytest.mark.slow
def test_plain_vs_residual_on_two_ranks_equals_one_process(tmp_path):
    """plain_vs_residual.py (its own loop): two ranks with batches of 25 and --sync-bn record
    the step losses and initial gradient norms of one process with batches of 50 (measured:
    1.4e-8 and 2.6e-7 relative, float32; without --sync-bn the shards' BatchNorm statistics
    move the losses by 1e-3 and the norms by 0.1; recording rank 0's own shard loss instead
    of the all-reduced one, by 1e-2). Rank 0 alone prints and writes."""
    data_dir = example_data_dir()
    if not (Path(data_dir) / "fashion-mnist").is_dir():
        pytest.skip(f"no Fashion-MNIST in {data_dir}")
    script = EXAMPLES / "plain_vs_residual.py"
    common = ["--depths", "8", "--limit", "100", "--epochs", "1", "--test-limit", "50",
              "--quiet", "--no-download", "--data-dir", data_dir]
    run_one_process(tmp_path, script, *common, "--batch-size", "50", "--out",
                    str(tmp_path / "one"))
    two = run_mpi(tmp_path, script, 2, *common, "--batch-size", "25", "--distributed",
                  "--sync-bn", "--out", str(tmp_path / "two"))
    output = two.stdout + two.stderr
    assert two.returncode == 0, output
    for line in ("training on 100 images", "plain-8  epoch 1/1", "ResNet-8  epoch 1/1",
                 "wrote degradation.png, gradient_norms.png"):
        assert two.stdout.count(line) == 1, output
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "degradation.png", "gradient_norms.png", "results.json"]
    one, two = (json.loads((tmp_path / run / "results.json").read_text())["networks"]
                for run in ("one", "two"))
    assert list(two) == ["plain-8", "ResNet-8"]
    for name in one:
        assert len(two[name]["step_losses"]) == 2  # 2 steps of 2 x 25 images
        for key in ("step_losses", "grad_norms", "train_loss", "test_loss"):
            np.testing.assert_allclose(two[name][key], one[name][key], rtol=1e-5,
                                       err_msg=f"{name} {key}")
        for key in ("train_acc", "test_acc"):  # whole-batch counts, all ranks' samples
            assert two[name][key] == one[name][key], (name, key)


@pytest.mark.slow
def test_transfer_learning_on_two_ranks_equals_one_process(tmp_path):
    """transfer_learning.py: on two ranks with batches of 20 every SGD network (pretraining,
    fine-tuning, from scratch) has the epoch losses of one process with batches of 40, and the
    linear SVM, trained by rank 0 alone with batches of 2 x 20, the same test accuracy
    (measured: losses to 1.1e-8 relative, every accuracy equal). --limit 604 gives even task
    sizes (270 and 234 training images, 50 and 50 validation images): no shard is padded by
    a repeated image, so the batches are exactly the same images. Rank 0 alone prints and
    writes; the other ranks load the backbone from memory, not from rank 0's file."""
    data_dir = example_data_dir()
    script = EXAMPLES / "transfer_learning.py"
    common = ["--limit", "604", "--val-size", "100", "--test-limit", "200", "--epochs", "2",
              "--quiet", "--no-download", "--data-dir", data_dir]
    run_one_process(tmp_path, script, *common, "--batch-size", "40", "--out",
                    str(tmp_path / "one"))
    two = run_mpi(tmp_path, script, 2, *common, "--batch-size", "20", "--distributed",
                  "--out", str(tmp_path / "two"))
    output = two.stdout + two.stderr
    assert two.returncode == 0, output
    for line in ("Total params: 61,281", "test accuracy on 0–4:", "on the 84 features",
                 "2. digits 5–9, head only: training 425 of 61,281", "  from scratch ",
                 "wrote model.npz, history.json"):
        assert two.stdout.count(line) == 1, output
    assert two.stdout.count("loaded 8 pretrained arrays") == 3, output
    for name in ("history_pretrain.json", "history.json"):  # pretraining; convolutions frozen
        one, two_ = (json.loads((tmp_path / run / name).read_text()) for run in ("one", "two"))
        for key in ("train_loss", "val_loss"):
            np.testing.assert_allclose(two_[key], one[key], rtol=1e-5, err_msg=f"{name} {key}")
        assert two_["val_acc"] == one["val_acc"]
    one, two_ = (json.loads((tmp_path / run / "results.json").read_text())["variants"]
                 for run in ("one", "two"))
    assert list(two_) == list(one)
    for name in one:
        for key in ("trainable_parameters", "accuracy_before", "accuracy"):
            assert two_[name][key] == one[name][key], (name, key)
