"""Thread settings: set_num_threads reaches both pools; by default both keep every core; the
kernels split their tasks over threads exactly (same results on one thread or several, from
several Python threads at once, and in a forked child); OpenBLAS's idle threads spin briefly."""

import gc
import multiprocessing
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import minicnn
from minicnn import models, nn
from minicnn.fast import parallel, tuning


def test_set_num_threads_sets_kernels_and_blas():
    before = minicnn.get_num_threads()
    try:
        minicnn.set_num_threads(1, blas=1)
        assert minicnn.get_num_threads() == {"kernels": 1, "blas": 1}
    finally:
        minicnn.set_num_threads(before["kernels"], blas=before["blas"])


def test_set_num_threads_rejects_nonsense():
    with pytest.raises(ValueError, match="expected a positive integer, got 0"):
        minicnn.set_num_threads(0)
    with pytest.raises(ValueError, match="expected a positive integer, got -1"):
        minicnn.set_num_threads(2, blas=-1)


def test_kernels_keep_every_core_unless_the_user_chose():
    # One thread per usable core (two threads halve a BatchNorm2d layer's time even on 2 cores);
    # NUMBA_NUM_THREADS, the variable Numba users know, still wins.
    code = ("import numpy, minicnn.fast.ops, minicnn, os; "
            "print(minicnn.get_num_threads()['kernels'], len(os.sched_getaffinity(0)))")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
    numba_threads, cores = map(int, subprocess.run(
        [sys.executable, "-c", code], env=env, text=True, capture_output=True,
        check=True).stdout.split())
    assert numba_threads == cores
    env["NUMBA_NUM_THREADS"] = "1"  # the user's choice wins
    chosen = subprocess.run([sys.executable, "-c", code], env=env, text=True,
                            capture_output=True, check=True).stdout.split()[0]
    assert int(chosen) == 1


def test_blas_keeps_every_core_unless_the_user_chose():
    code = ("import numpy, minicnn.fast.ops, minicnn, os; "
            "print(minicnn.get_num_threads()['blas'])")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    reference = subprocess.run([sys.executable, "-c", "import numpy, threadpoolctl; print(max("
                                "i['num_threads'] for i in threadpoolctl.threadpool_info() "
                                "if i['user_api'] == 'blas'))"],
                               env=env, text=True, capture_output=True, check=True).stdout
    blas = subprocess.run([sys.executable, "-c", code], env=env, text=True,
                          capture_output=True, check=True).stdout
    assert int(blas) == int(reference)  # minicnn changed nothing


def run_python(code: str, *args, **env_changes) -> str:
    env = dict(os.environ)
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code, *args], env=env, text=True,
                          capture_output=True, check=True, timeout=120).stdout.strip()


def test_run_tasks_covers_the_range_once_in_contiguous_slices():
    calls = []

    def kernel(tag, first, last):
        calls.append((tag, first, last, threading.current_thread() is threading.main_thread()))

    before = parallel.get_kernel_threads()
    try:
        parallel.set_kernel_threads(3)
        parallel.run_tasks(kernel, 10, tuning.MIN_PARALLEL_WORK, "a")
        assert sorted(c[1:3] for c in calls) == [(0, 3), (3, 6), (6, 10)]
        assert {c[0] for c in calls} == {"a"}
        assert [c[1:] for c in calls if c[3]] == [(0, 3, True)]  # the caller runs the first
        calls.clear()
        parallel.run_tasks(kernel, 2, tuning.MIN_PARALLEL_WORK, "b")  # fewer tasks
        assert sorted(c[1:3] for c in calls) == [(0, 1), (1, 2)]
        calls.clear()
        parallel.run_tasks(kernel, 10, tuning.MIN_PARALLEL_WORK - 1, "c")  # tiny call
        assert calls == [("c", 0, 10, True)]
    finally:
        parallel.set_kernel_threads(before)


def _kernel_threads_alive() -> int:
    return sum(t.name.startswith("minicnn-kernel") for t in threading.enumerate())


def test_a_new_thread_count_replaces_the_pool_and_the_old_threads_exit():
    def kernel(first, last):
        time.sleep(0.01)  # long enough that every slice gets its own thread

    before = parallel.get_kernel_threads()
    try:
        parallel.set_kernel_threads(4)
        parallel.run_tasks(kernel, 8, tuning.MIN_PARALLEL_WORK)
        assert _kernel_threads_alive() >= 3  # the caller plus three pool threads
        parallel.set_kernel_threads(2)
        parallel.run_tasks(kernel, 8, tuning.MIN_PARALLEL_WORK)
        deadline = time.monotonic() + 5
        while _kernel_threads_alive() > 1 and time.monotonic() < deadline:
            gc.collect()
            time.sleep(0.01)
        assert _kernel_threads_alive() == 1
    finally:
        parallel.set_kernel_threads(before)


def test_run_tasks_raises_what_another_thread_raised_after_all_finished():
    finished = []

    def kernel(first, last):
        if first > 0:
            raise ValueError(f"slice {first}:{last} failed")
        time.sleep(0.05)
        finished.append(first)

    before = parallel.get_kernel_threads()
    try:
        parallel.set_kernel_threads(2)
        with pytest.raises(ValueError, match="slice 2:4 failed"):
            parallel.run_tasks(kernel, 4, tuning.MIN_PARALLEL_WORK)
        assert finished == [0]
    finally:
        parallel.set_kernel_threads(before)


def _lenet(seed=0):
    minicnn.manual_seed(seed)
    x = np.random.default_rng(seed).standard_normal((16, 1, 28, 28), dtype=np.float32)
    return models.lenet5(), x


def _lenet_step(model, x):
    """Logits and every gradient of LeNet-5 steps with the convolutions by every method
    (batch_last and im2col as "auto" picks them at batch 16, then direct and batch_last), and
    pooling and linear layers."""
    results = []
    for methods in (("auto", "auto"), ("direct", "batch_last")):
        model.features[0].method, model.features[3].method = methods
        loss_fn = nn.CrossEntropyLoss()
        logits = model(x)
        loss_fn(logits, np.arange(len(x)) % 10)
        model.zero_grad()
        dx = model.backward(loss_fn.backward())
        results += [logits, dx] + [p.grad.copy() for p in model.parameters()]
    return results


def _batch_norm_step():
    layer = nn.BatchNorm2d(8)
    x = np.random.default_rng(0).standard_normal((16, 8, 12, 12), dtype=np.float32)
    y = layer(x)
    return [y, layer.backward(np.cos(y)), layer.weight.grad.copy(), layer.bias.grad.copy()]


def test_one_thread_and_two_give_the_same_bits(monkeypatch):
    monkeypatch.setattr(tuning, "MIN_PARALLEL_WORK", 0)  # split every call, however small
    before = minicnn.get_num_threads()
    try:
        minicnn.set_num_threads(1, blas=before["blas"])
        single = _lenet_step(*_lenet()) + _batch_norm_step()
        minicnn.set_num_threads(2, blas=before["blas"])  # drops the pool
        double = _lenet_step(*_lenet()) + _batch_norm_step()
        assert parallel._pool is not None  # so the pool's threads did run slices
    finally:
        minicnn.set_num_threads(before["kernels"], blas=before["blas"])
    assert len(single) == len(double) == 28
    for a, b in zip(single, double, strict=True):
        np.testing.assert_array_equal(a, b)  # each task runs the same arithmetic either way


def test_kernels_run_from_several_python_threads_at_once(monkeypatch):
    monkeypatch.setattr(tuning, "MIN_PARALLEL_WORK", 0)  # every call uses the shared pool
    cases = [_lenet(seed) for seed in range(4)]
    expected = [_lenet_step(model, x) for model, x in cases]
    results = [None] * len(cases)

    def work(i):
        results[i] = _lenet_step(*cases[i])

    workers = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for got, want in zip(results, expected, strict=True):
        assert len(got) == len(want) == 24
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


FORKED = """
import multiprocessing as mp, numpy as np, minicnn
from minicnn import models
from minicnn.fast import parallel, tuning
tuning.MIN_PARALLEL_WORK = 0  # every call uses the pool
def step():
    minicnn.manual_seed(0)
    model = models.lenet5()
    out = model(np.random.default_rng(0).standard_normal((64, 1, 28, 28), dtype=np.float32))
    return float(np.abs(out).sum() + np.abs(model.backward(np.ones_like(out))).sum())
if __name__ == "__main__":
    here = step()  # the kernels' thread pool exists before the fork
    with mp.get_context("fork").Pool(1) as pool:
        print(pool.apply(step) == here)
"""


def test_a_forked_child_runs_the_kernels():
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("this platform cannot fork")
    assert run_python(FORKED) == "True"  # a child given the parent's dead pool would hang


SPIN = ("import os, sys, numpy as np, minicnn; from minicnn.fast import threads; "
        "'configure' in sys.argv and minicnn.fast.configure_process(); "
        "minicnn.models.lenet5()(np.zeros((2, 1, 28, 28), np.float32)); "
        "a = np.arange(12.0).reshape(3, 4); "
        "print(threads.blas_spin_exponent(), 'OPENBLAS_THREAD_TIMEOUT' in os.environ, "
        "float((a @ a.T).sum()), minicnn.get_num_threads()['blas'])")


def _openblas_on_pthreads() -> bool:
    from minicnn.fast import threads
    return threads._numpy_openblas() is not None


def test_blas_threads_spin_briefly_unless_the_user_chose():
    if not _openblas_on_pthreads():
        pytest.skip("NumPy's BLAS here is not OpenBLAS on pthreads: nothing to shorten")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    expected_sum = float((np.arange(12.0).reshape(3, 4) @ np.arange(12.0).reshape(3, 4).T).sum())
    exponent, leaked, total, blas = subprocess.run(  # without the variable, even if CI sets it
        [sys.executable, "-c", SPIN, "configure"], env=env, text=True, capture_output=True,
        check=True).stdout.split()
    assert int(exponent) == 16
    assert leaked == "False"  # the variable was only set while OpenBLAS read it
    assert float(total) == expected_sum  # the restarted threads still compute
    assert int(blas) == minicnn.get_num_threads()["blas"]
    exponent, leaked, _, _ = run_python(SPIN, "configure", OPENBLAS_THREAD_TIMEOUT="28").split()
    assert (int(exponent), leaked) == (28, "True")  # the user's setting stands


def test_blas_threads_keep_their_spin_without_configure_process():
    if not _openblas_on_pthreads():
        pytest.skip("NumPy's BLAS here is not OpenBLAS on pthreads: nothing to shorten")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    exponent = subprocess.run([sys.executable, "-c", SPIN], env=env, text=True,
                              capture_output=True, check=True).stdout.split()[0]
    assert int(exponent) == 0  # OpenBLAS's own default: running the fast engine changed nothing
