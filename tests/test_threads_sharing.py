"""One model, several threads: what is safe, and what is an error instead of a wrong gradient.

- inference (``no_grad``, as ``predict`` runs it) from several threads at once gives the serial
  results, and never disturbs a training forward's cache, also from another thread;
- a training forward or backward in a second thread while the first thread's forward awaits
  its backward is a RuntimeError naming the layer;
- two threads training one model at once, with real threads: every input gradient is either
  right or refused with that error (none silently wrong).
"""

import copy
import threading

import numpy as np
import pytest

import minicnn
from minicnn import models, nn

pytestmark = pytest.mark.usefixtures("each_engine")


def _model():
    minicnn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64, 10)).astype(np.float64)


def _batch(seed, n=4):
    return np.random.default_rng(seed).standard_normal((n, 1, 8, 8))


def _run_in_thread(fn):
    result = {}

    def target():
        try:
            result["value"] = fn()
        except Exception as error:  # handed to the main thread to check
            result["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return result


def test_inference_from_several_threads_gives_the_serial_results():
    model = models.lenet5().eval()
    batches = [np.random.default_rng(s).standard_normal((8, 1, 28, 28)).astype(np.float32)
               for s in range(6)]
    with minicnn.no_grad():
        expected = [model(x) for x in batches]
    results = [None] * len(batches)

    def infer(i):
        with minicnn.no_grad():
            for _ in range(3):
                results[i] = minicnn.predict(model, batches[i], batch_size=4)

    threads = [threading.Thread(target=infer, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_inference_in_another_thread_leaves_a_training_forward_alone():
    model, x = _model(), _batch(0)
    expected = copy.deepcopy(model)
    out = model(x)
    other = _run_in_thread(lambda: minicnn.predict(model, _batch(1), batch_size=2))
    assert "error" not in other
    dx = model.backward(np.cos(out))
    expected_out = expected(x)
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_allclose(dx, expected.backward(np.cos(expected_out)), rtol=1e-12)


def test_training_from_a_second_thread_during_a_forward_is_an_error():
    model, x = _model(), _batch(0)
    out = model(x)
    other = _run_in_thread(lambda: model(_batch(1)))
    assert isinstance(other["error"], RuntimeError)
    assert "Conv2d(1, 4): forward() in one thread while a forward() of another thread awaits " \
           "its backward()" in str(other["error"])
    other = _run_in_thread(lambda: model.backward(np.ones_like(out)))
    assert "backward() in one thread" in str(other["error"])
    model.backward(np.ones_like(out))  # the first thread's step is intact
    assert "error" not in _run_in_thread(lambda: model(_batch(1)))  # and then it is free


def test_a_finished_thread_leaves_no_claim_on_the_model():
    model = _model()
    assert "error" not in _run_in_thread(lambda: model(_batch(0)))  # no backward: stale cache
    out = model(_batch(1))  # the thread is gone: this thread may train
    assert model.backward(np.ones_like(out)).shape == (4, 1, 8, 8)


def test_two_threads_training_one_model_get_right_gradients_or_an_error():
    model = _model()
    reference = copy.deepcopy(model)
    inputs = [_batch(seed) for seed in range(8)]
    expected = []
    for x in inputs:
        out = reference(x)
        expected.append(reference.backward(np.cos(out)))
    outcomes = {"right": 0, "wrong": 0, "refused": 0}
    lock = threading.Lock()

    def train(offset):
        for step in range(40):
            i = (step + offset) % len(inputs)
            try:
                out = model(inputs[i])
                dx = model.backward(np.cos(out))
            except RuntimeError as error:
                assert "a model is trained by one thread at a time" in str(error)
                kind = "refused"
            else:
                kind = "right" if np.allclose(dx, expected[i], rtol=1e-10, atol=1e-12) else "wrong"
            with lock:
                outcomes[kind] += 1

    threads = [threading.Thread(target=train, args=(k,)) for k in (0, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes["wrong"] == 0, outcomes
    assert outcomes["right"] > 0 and sum(outcomes.values()) == 80
