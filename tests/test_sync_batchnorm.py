"""``nn.SyncBatchNorm`` and ``F.sync_batch_norm_forward/backward``, on one process.

What is checked (two ranks over MPI for real: tests/test_distributed.py):
- without MPI (no mpi4py imported), in train() and eval(), the layer is ``BatchNorm2d`` /
  ``BatchNorm1d`` bit for bit: outputs, input and parameter gradients, running statistics,
  ``num_batches_tracked``, ``momentum=None``; float32 and float64; and it imports no mpi4py;
- its gradients against float64 central differences (``check_module``);
- the functional pair with the identity as all-reduce against a per-channel loop of batch
  normalisation's definition, and with ranks simulated by threads (an all-reduce made of a
  barrier): the shards' outputs, running statistics and DistributedDataParallel-weighted
  gradients equal one batch normalisation of the whole batch, for even and uneven shards and
  a shard of one sample;
- ``convert_sync_batchnorm`` (PyTorch's): the same Parameter objects and buffers, mode and
  state-dict keys, nested children, a BatchNorm root replaced;
- errors name the layer (a ValueError with the expected and the given shape).
"""

import subprocess
import sys
import threading

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.gradcheck import check_module

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")


def randn(*shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def trained_pair(make_plain, make_sync, dtype, shape, momentum=0.1):
    minicnn.manual_seed(0)
    plain = make_plain(momentum).astype(dtype)
    sync = make_sync(momentum).astype(dtype)
    sync.load_state_dict(plain.state_dict())
    plain.weight.data[:] = sync.weight.data[:] = np.linspace(0.5, 2, plain.num_features)
    return plain, sync


LAYERS = [
    (lambda m: nn.BatchNorm2d(3, momentum=m), lambda m: nn.SyncBatchNorm(3, momentum=m),
     (4, 3, 5, 5)),
    (lambda m: nn.BatchNorm1d(4, momentum=m), lambda m: nn.SyncBatchNorm(4, momentum=m),
     (6, 4)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("make_plain, make_sync, shape", LAYERS)
def test_without_mpi_it_is_batchnorm_bit_for_bit(make_plain, make_sync, shape, momentum, dtype):
    plain, sync = trained_pair(make_plain, make_sync, dtype, shape, momentum)
    for step in range(3):
        x, dout = randn(*shape, dtype=dtype, seed=step) + step, randn(*shape, dtype=dtype,
                                                                      seed=10 + step)
        for mode in ("train", "eval"):
            plain.train(mode == "train")
            sync.train(mode == "train")
            y = plain(x)
            np.testing.assert_array_equal(sync(x), y)
            assert sync(x).dtype == dtype
            plain(x)  # both have run forward twice: the running statistics stay equal
            np.testing.assert_array_equal(sync.backward(dout), plain.backward(dout))
        np.testing.assert_array_equal(sync.weight.grad, plain.weight.grad)
        np.testing.assert_array_equal(sync.bias.grad, plain.bias.grad)
        for name, value in plain.state_dict().items():
            np.testing.assert_array_equal(sync.state_dict()[name], value)
    assert int(sync.num_batches_tracked) == 6


def test_using_it_imports_no_mpi4py():
    code = ("import sys, numpy as np; from minicnn import nn; "
            "layer = nn.SyncBatchNorm(2); layer(np.ones((3, 2), np.float32)); "
            "layer.backward(np.ones((3, 2), np.float32)); print('mpi4py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("shape", [(4, 3, 3, 3), (1, 3, 3, 3), (5, 3), (3, 3, 4)])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradients_match_central_differences(shape, mode):
    layer = nn.SyncBatchNorm(3)
    layer.weight.data[:] = [0.5, 1.5, -2.0]
    layer.running_mean[:], layer.running_var[:] = [0.1, -0.2, 0.3], [0.5, 2.0, 1.5]
    layer.train(mode == "train")
    report = check_module(layer, randn(*shape, seed=3))
    assert set(report.errors) == {"input", "weight", "bias"}
    assert report.ok(1e-6), report


# -- the functional pair ----------------------------------------------------------------------
def identity_all_reduce(values):
    return np.array(values, dtype=np.float64)


def batch_norm_by_definition(x, gamma, beta, eps):
    """A loop over the channels: mean, biased variance, normalise, scale, shift."""
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        values = x[:, c]
        mean = sum(values.ravel()) / values.size
        var = sum((v - mean) ** 2 for v in values.ravel()) / values.size
        y[:, c] = gamma[c] * (values - mean) / np.sqrt(var + eps) + beta[c]
    return y


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_one_rank_computes_the_definition(dtype, tol):
    x = randn(3, 2, 4, 4, dtype=dtype) * 3 + 5
    gamma, beta = np.array([1.5, -0.5], dtype), np.array([0.2, 0.1], dtype)
    y, _ = F.sync_batch_norm_forward(x, gamma, beta, None, None, momentum=0.1, eps=1e-5,
                                     all_reduce_sum=identity_all_reduce)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, batch_norm_by_definition(x.astype(np.float64), gamma, beta,
                                                           1e-5), atol=tol)


class ThreadRanks:
    """``ranks`` threads standing for MPI ranks; ``all_reduce_sum`` sums over them."""

    def __init__(self, ranks):
        self.ranks = ranks
        self.barrier = threading.Barrier(ranks)
        self.slots = [None] * ranks
        self.local = threading.local()

    def all_reduce_sum(self, values):
        self.slots[self.local.rank] = np.array(values, dtype=np.float64)
        self.barrier.wait()
        total = np.sum(self.slots, axis=0)
        self.barrier.wait()  # everyone has read the slots before the next call fills them
        return total

    def run(self, work):
        """``work(rank)`` on every rank at once; their results, by rank."""
        results = [None] * self.ranks

        def target(rank):
            self.local.rank = rank
            results[rank] = work(rank)

        threads = [threading.Thread(target=target, args=(r,)) for r in range(self.ranks)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert all(result is not None for result in results), "a rank failed"
        return results


@pytest.mark.parametrize("sizes", [(4, 4), (5, 2), (1, 3), (2, 3, 4)])
def test_shards_on_simulated_ranks_equal_the_whole_batch(sizes):
    n, c = sum(sizes), 3
    x, gamma, beta = randn(n, c, 2, 2, seed=1) + 2, np.array([1.5, 0.5, -1.0]), np.ones(c)
    # dL/dy of a mean loss over the whole batch; rank r's own mean loss has n / n_r times it
    whole_dout = randn(n, c, 2, 2, seed=2)
    stats = np.zeros(c), np.ones(c)
    y, cache = F.batch_norm_forward(x, gamma, beta, *stats, training=True, momentum=0.1)
    dx, dgamma, dbeta = F.batch_norm_backward(whole_dout, cache)
    parts = np.split(np.arange(n), np.cumsum(sizes)[:-1])
    ranks = ThreadRanks(len(sizes))

    def work(rank):
        part = parts[rank]
        running = np.zeros(c), np.ones(c)
        y_r, cache_r = F.sync_batch_norm_forward(x[part], gamma, beta, *running, momentum=0.1,
                                                 eps=1e-5, all_reduce_sum=ranks.all_reduce_sum)
        grads = F.sync_batch_norm_backward(whole_dout[part] * n / len(part), cache_r)
        return y_r, grads, running

    share = [len(part) / n for part in parts]  # DistributedDataParallel's weights
    results = ranks.run(work)
    for part, weight, (y_r, (dx_r, _, _), running) in zip(parts, share, results, strict=True):
        np.testing.assert_allclose(y_r, y[part], atol=1e-12)
        np.testing.assert_allclose(weight * dx_r, dx[part], atol=1e-12)
        np.testing.assert_allclose(running[0], stats[0], atol=1e-12)  # the whole batch's,
        np.testing.assert_allclose(running[1], stats[1], atol=1e-12)  # unbiased over all n
    for index, expected in ((1, dgamma), (2, dbeta)):  # the ranks' shares, averaged as DDP
        averaged = sum(w * r[1][index] for w, r in zip(share, results, strict=True))
        np.testing.assert_allclose(averaged, expected, atol=1e-12)


def test_too_few_values_over_all_ranks_is_an_error():
    with pytest.raises(ValueError, match=r"sync_batch_norm_forward: expected more than 1 value "
                                         r"per channel over all ranks when training, got 1"):
        F.sync_batch_norm_forward(np.ones((1, 2)), None, None, None, None, momentum=0.1,
                                  eps=1e-5, all_reduce_sum=identity_all_reduce)


# -- convert_sync_batchnorm -------------------------------------------------------------------
def test_convert_sync_batchnorm_keeps_parameters_buffers_and_mode():
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(),
                          nn.Sequential(nn.Flatten(), nn.Linear(3, 2), nn.BatchNorm1d(2)))
    model[3][2].eval()
    model[1].running_mean[:] = [1, 2, 3]
    before = model.state_dict()
    weight, running_mean = model[1].weight, model[1].running_mean
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert type(model[1]) is nn.SyncBatchNorm and type(model[3][2]) is nn.SyncBatchNorm
    assert model[1].weight is weight and model[1].running_mean is running_mean
    assert model[1].training and not model[3][2].training
    assert list(model.state_dict()) == list(before)
    for name, value in before.items():
        np.testing.assert_array_equal(model.state_dict()[name], value)

    root = nn.BatchNorm1d(4, eps=1e-3, momentum=None, affine=False)
    new = nn.SyncBatchNorm.convert_sync_batchnorm(root)
    assert type(new) is nn.SyncBatchNorm and new is not root
    assert (new.eps, new.momentum, new.affine, new.weight) == (1e-3, None, False, None)


# -- errors and repr --------------------------------------------------------------------------
def test_bad_input_names_the_layer():
    layer = nn.SyncBatchNorm(3)
    with pytest.raises(ValueError, match=r"SyncBatchNorm\(3\): expected input of rank 2 "
                                         r"\(N, 3\) or 3 \(N, 3, L\) or 4 \(N, 3, H, W\), got "
                                         r"shape \(3,\)"):
        layer(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"SyncBatchNorm\(3\): expected more than 1 value per "
                                         r"channel when training"):
        layer(np.ones((1, 3, 1, 1), np.float32))
    assert repr(layer) == ("SyncBatchNorm(3, eps=1e-05, momentum=0.1, affine=True, "
                           "track_running_stats=True)")


def test_process_group_must_be_a_communicator():
    with pytest.raises(TypeError, match=r"SyncBatchNorm: expected process_group as an mpi4py "
                                        r"communicator or None, got 'world'"):
        nn.SyncBatchNorm(3, process_group="world")
