"""The engine switch, and what importing minicnn leaves alone.

- ``set_engine`` / ``get_engine`` / ``engine(...)`` / ``MINICNN_ENGINE`` choose the engine, with a
  clear error for an unknown name; a layer's backward runs the engine its forward ran;
- under "reference", building and training LeNet-5 never imports Numba;
- importing minicnn starts no thread and changes no environment variable, and does not hang
  when another thread is inside a NumPy matrix product (the repro of issue 14, in fresh
  processes with a timeout).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn
from minicnn import engines, models, nn


def _run(code: str, timeout: float = 120, **env) -> str:
    environment = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], env=environment, text=True,
                          capture_output=True, check=True, timeout=timeout).stdout.strip()


def test_the_default_is_fast_and_the_switch_is_process_wide():
    assert minicnn.get_engine() == "fast"
    with minicnn.engine("reference"):
        assert minicnn.get_engine() == "reference"
        assert engines.functions() is minicnn.functional
    assert minicnn.get_engine() == "fast"
    assert engines.functions() is engines.functions("fast")
    minicnn.set_engine("reference")
    try:
        assert minicnn.get_engine() == "reference"
    finally:
        minicnn.set_engine("fast")


def test_unknown_engine_names_are_refused():
    with pytest.raises(ValueError, match=r"set_engine: expected an engine name in \('reference', "
                                         r"'fast'\), got 'numba'"):
        minicnn.set_engine("numba")
    with pytest.raises(ValueError, match="engine: expected an engine name"):
        with minicnn.engine("gpu"):
            pass
    assert minicnn.get_engine() == "fast"


def test_the_environment_variable_chooses_the_default():
    assert _run("import minicnn; print(minicnn.get_engine())",
                MINICNN_ENGINE="reference") == "reference"
    result = subprocess.run([sys.executable, "-c", "import minicnn; minicnn.get_engine()"],
                            env={**os.environ, "MINICNN_ENGINE": "turbo"}, text=True,
                            capture_output=True)
    assert result.returncode != 0 and "MINICNN_ENGINE: expected an engine name" in result.stderr


def test_backward_runs_the_engine_the_forward_ran():
    minicnn.manual_seed(0)
    model = models.lenet5().astype(np.float64)
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28))
    with minicnn.engine("reference"):
        out = model(x)
    dx_mixed = model.backward(np.ones_like(out))  # now under "fast": still the reference's caches
    with minicnn.engine("reference"):
        model(x)
        dx_reference = model.backward(np.ones_like(out))
    np.testing.assert_array_equal(dx_mixed, dx_reference)


def test_training_lenet5_under_the_reference_never_imports_numba():
    code = """
import sys
import numpy as np
import minicnn
from minicnn import data, functional, models, nn, optim
minicnn.set_engine("reference")
minicnn.manual_seed(0)
model = models.lenet5()
loss_fn = nn.CrossEntropyLoss()
opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x = np.random.default_rng(0).standard_normal((16, 1, 28, 28)).astype(np.float32)
y = np.arange(16) % 10
losses = []
for _ in range(3):
    losses.append(loss_fn(model(x), y))
    opt.zero_grad()
    model.backward(loss_fn.backward())
    opt.step()
history = minicnn.fit(model, loss_fn, opt, [(x, y)], epochs=1, verbose=False)
print("numba" in sys.modules, losses[-1] < losses[0])
"""
    assert _run(code) == "False True"


def test_importing_minicnn_starts_no_thread_and_changes_no_environment():
    code = """
import os, threading
before = (threading.active_count(), dict(os.environ))
import minicnn
from minicnn import nn, models, functional, optim, data
import minicnn.fast
print(threading.active_count() == before[0], dict(os.environ) == before[1])
"""
    assert _run(code) == "True True"


HANG_REPRO = ("import threading,time,numpy as np; a=np.ones((1500,1500)); "
              "t=threading.Thread(target=lambda:[a@a for _ in range(20)]); t.start(); "
              "time.sleep(.2); from minicnn import nn; t.join(); print('done')")


def test_importing_while_another_thread_multiplies_matrices_never_hangs():
    # Importing the kernels used to restart OpenBLAS's thread pool: 15 of 20 such processes
    # hung forever. Ten fresh processes, each given far more time than it needs (~1 s).
    for _ in range(10):
        assert _run(HANG_REPRO, timeout=60) == "done"


def test_a_model_runs_under_either_engine_with_the_same_numbers():
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16, 3))
    x = np.random.default_rng(1).standard_normal((5, 1, 8, 8)).astype(np.float32)
    results = {}
    for name in engines.ENGINES:
        with minicnn.engine(name):
            model.zero_grad()
            out = model(x)
            dx = model.backward(np.cos(out))
            results[name] = [out, dx] + [p.grad.copy() for p in model.parameters()]
    for reference, fast in zip(results["reference"], results["fast"], strict=True):
        assert reference.dtype == fast.dtype == np.float32
        np.testing.assert_allclose(fast, reference, rtol=1e-5, atol=1e-5)


def test_the_reference_engine_imports_neither_numba_nor_the_fast_engine():
    import ast
    from pathlib import Path

    folder = Path(minicnn.functional.__file__).parent
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{'.' * node.level}{node.module or ''}"]
            else:
                continue
            for name in names:
                assert "numba" not in name and "fast" not in name and "kernels" not in name, \
                    f"{path.name} imports {name}"
