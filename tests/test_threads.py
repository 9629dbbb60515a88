"""Thread settings: set_num_threads reaches both pools; small machines get one BLAS thread."""

import os
import subprocess
import sys

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


def test_default_blas_threads_follow_the_core_count_unless_the_user_chose():
    code = ("import numpy, minicnn.kernels, minicnn, os; "
            "print(minicnn.get_num_threads()['blas'], os.cpu_count())")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    blas, cores = map(int, subprocess.run([sys.executable, "-c", code], env=env, text=True,
                                          capture_output=True, check=True).stdout.split())
    if cores <= 2:
        assert blas == 1
    env["OPENBLAS_NUM_THREADS"] = "2"  # the user's choice wins
    chosen = subprocess.run([sys.executable, "-c", code], env=env, text=True,
                            capture_output=True, check=True).stdout.split()[0]
    assert int(chosen) == 2
