"""Thread settings: set_num_threads reaches both pools; by default both keep every core; Numba's
OpenMP layer is preferred and its idle threads sleep."""

import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn


def test_set_num_threads_sets_numba_and_blas():
    before = minicnn.get_num_threads()
    try:
        minicnn.set_num_threads(1, blas=1)
        assert minicnn.get_num_threads() == {"numba": 1, "blas": 1}
    finally:
        minicnn.set_num_threads(before["numba"], blas=before["blas"])


def test_set_num_threads_rejects_nonsense():
    with pytest.raises(ValueError, match="expected a positive integer, got 0"):
        minicnn.set_num_threads(0)


def test_numba_keeps_every_core_unless_the_user_chose():
    # Numba's default is one thread per core; minicnn must not lower it (two threads halve a
    # BatchNorm2d layer's time even on 2 cores), and NUMBA_NUM_THREADS still wins.
    code = ("import numpy, minicnn.kernels, minicnn, os; "
            "print(minicnn.get_num_threads()['numba'], os.cpu_count())")
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
    code = ("import numpy, minicnn.kernels, minicnn, os; "
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


def run_python(code: str, **env_changes) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY")}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], env=env, text=True,
                          capture_output=True, check=True).stdout.strip()


LAYER = "import minicnn.kernels, numba; print(numba.config.THREADING_LAYER, " \
        "numba.config.THREADING_LAYER_PRIORITY[0])"


def test_openmp_is_preferred_and_its_idle_threads_sleep():
    assert run_python(LAYER) == "default omp"  # Numba takes the first layer it can load
    assert run_python("import os, minicnn.kernels; print(os.environ['OMP_WAIT_POLICY'])") \
        == "PASSIVE"


def test_an_openmp_runtime_loaded_first_means_workqueue():
    import ctypes.util

    library = ctypes.util.find_library("gomp")
    if library is None:
        pytest.skip("no GNU OpenMP runtime on this machine to load first")
    code = f"import ctypes; ctypes.CDLL({library!r}); " + LAYER
    assert run_python(code).split()[0] == "workqueue"


def test_the_users_threading_layer_wins():
    code = "import minicnn, numpy as np; minicnn.models.lenet5()(np.zeros((2, 1, 28, 28), " \
           "np.float32)); import numba; print(numba.threading_layer())"
    assert run_python(code, NUMBA_THREADING_LAYER="workqueue") == "workqueue"


SPIN = ("import os, numpy as np, minicnn; from minicnn.kernels import threads; "
        "a = np.arange(12.0).reshape(3, 4); "
        "print(threads.blas_spin_exponent(), 'OPENBLAS_THREAD_TIMEOUT' in os.environ, "
        "float((a @ a.T).sum()), minicnn.get_num_threads()['blas'])")


def _openblas_on_pthreads() -> bool:
    from minicnn.kernels import threads
    return threads._numpy_openblas() is not None


def test_blas_threads_spin_briefly_unless_the_user_chose():
    if not _openblas_on_pthreads():
        pytest.skip("NumPy's BLAS here is not OpenBLAS on pthreads: nothing to shorten")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    expected_sum = float((np.arange(12.0).reshape(3, 4) @ np.arange(12.0).reshape(3, 4).T).sum())
    exponent, leaked, total, blas = subprocess.run(  # without the variable, even if CI sets it
        [sys.executable, "-c", SPIN], env=env, text=True, capture_output=True,
        check=True).stdout.split()
    assert int(exponent) == 16
    assert leaked == "False"  # the variable was only set while OpenBLAS read it
    assert float(total) == expected_sum  # the restarted threads still compute
    assert int(blas) == minicnn.get_num_threads()["blas"]
    exponent, leaked, _, _ = run_python(SPIN, OPENBLAS_THREAD_TIMEOUT="28").split()
    assert (int(exponent), leaked) == (28, "True")  # the user's setting stands
