"""``minicnn.labs``: each checker passes the lab's solution and catches a planted bug.

The solutions are docs/labs/solutions.py (kept apart from the student sheet). Each planted bug
is a classic one: a missing bias, padding forgotten in dx, the gradient sent to every element
of a pooling window, the mean term dropped from batch norm's dx, the identity path forgotten
in a residual block. The message must name the output that is wrong and where.
"""

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest

from minicnn import labs

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("lab_solutions", REPO / "docs/labs/solutions.py")
solutions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(solutions)


def run(check, *functions):
    printed = io.StringIO()
    result = check(*functions, file=printed)
    return result, printed.getvalue()


@pytest.mark.parametrize("forward, backward", [
    (solutions.conv_forward_loops, solutions.conv_backward_loops),
    (solutions.conv_forward_im2col, solutions.conv_backward_im2col)], ids=["loops", "im2col"])
def test_conv_solutions_pass(forward, backward):
    result, printed = run(labs.check_conv, forward, backward)
    assert result.ok, printed
    assert set(result.errors) == {"out", "dx", "dw", "db"}
    assert all(e < 1e-10 for e in result.errors.values())
    assert "convolution: passed" in printed and "you should be happy" in printed


def test_conv_forward_without_bias_fails_naming_out():
    result, printed = run(labs.check_conv, lambda x, w, b, s, p:
                          solutions.conv_forward_loops(x, w, np.zeros_like(b), s, p))
    assert not result.ok and "FAILED" in printed
    assert result.where.startswith("out differs most at index")


def test_conv_backward_with_the_padding_kept_in_dx_fails_on_the_border():
    def wrong(dout, x, w, b, stride, padding):
        dx, dw, db = solutions.conv_backward_loops(dout, x, w, b, stride, padding)
        dx = dx.copy()
        dx[:, :, 0, :] = 0  # forgot the first row's contributions
        return dx, dw, db

    result, _ = run(labs.check_conv, solutions.conv_forward_loops, wrong)
    assert not result.ok and result.errors["dw"] < 1e-10
    assert result.where.startswith("dx differs most") and "on the border" in result.where


def test_max_pool_solution_passes_and_a_spread_gradient_fails():
    result, printed = run(labs.check_max_pool, solutions.max_pool_forward,
                          solutions.max_pool_backward)
    assert result.ok, printed

    def spread(dout, x, size, stride):  # the bug: every element of the window gets the gradient
        dx = np.zeros_like(x)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                dx[:, :, i * stride:i * stride + size, j * stride:j * stride + size] += \
                    dout[:, :, i:i + 1, j:j + 1]
        return dx

    result, _ = run(labs.check_max_pool, solutions.max_pool_forward, spread)
    assert not result.ok and result.errors["out"] == 0 and result.where.startswith("dx")


def test_batchnorm_solution_passes_and_dropping_the_mean_term_fails():
    result, printed = run(labs.check_batchnorm, solutions.batchnorm_forward,
                          solutions.batchnorm_backward)
    assert result.ok, printed

    def no_mean_term(dout, x, gamma, beta, eps):
        dx, dgamma, dbeta = solutions.batchnorm_backward(dout, x, gamma, beta, eps)
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        m = x.size // x.shape[1]
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
        sigma = np.sqrt(x.var(axis=axes) + eps).reshape(shape)
        return dx + gamma.reshape(shape) * dbeta.reshape(shape) / (m * sigma), dgamma, dbeta

    result, _ = run(labs.check_batchnorm, solutions.batchnorm_forward, no_mean_term)
    assert not result.ok and result.errors["dgamma"] < 1e-10
    assert result.where.startswith("dx differs most")


def test_residual_solution_passes_and_forgetting_the_identity_fails():
    result, printed = run(labs.check_residual, solutions.residual_backward)
    assert result.ok, printed

    def no_identity(dout, x, w1, w2):
        dx, dw1, dw2 = solutions.residual_backward(dout, x, w1, w2)
        s = labs.residual_forward(x, w1, w2) > 0  # y > 0 exactly where s > 0
        return dx - dout * s, dw1, dw2

    result, _ = run(labs.check_residual, no_identity)
    assert not result.ok and result.where.startswith("dx differs most")


def test_unwritten_and_misshapen_answers_are_reported():
    def todo(*args):
        raise NotImplementedError

    result, printed = run(labs.check_conv, todo)
    assert not result.ok and "not written yet" in printed
    result, printed = run(labs.check_max_pool, lambda x, size, stride: x)
    assert not result.ok and "out has shape" in result.where
