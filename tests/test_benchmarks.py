"""The benchmark scripts still run: each with ``--quick --no-torch`` in a subprocess.

The figures themselves are not checked (this machine is shared and noisy: speed targets live in
``benchmarks/``, never in tests). What is checked: the script exits cleanly and prints every row
it promises, each with a positive number for minicnn and, in ``bench_layers.py``, for the plain
NumPy baseline.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
NUMBER = r"(\d+(?:\.\d+)?)"


def run_script(name: str, *flags: str) -> str:
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(BENCHMARKS / name), "--quick", "--no-torch",
                             *flags], cwd=BENCHMARKS, env=env, text=True, capture_output=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_bench_layers_prints_every_row():
    out = run_script("bench_layers.py")
    assert re.search(rf"import minicnn \(fresh process\)\s+{NUMBER} s", out)
    for cache in ("cold", "warm"):
        assert re.search(rf"first LeNet-5 fwd\+bwd \(batch 64\), {cache} Numba cache\s+"
                         rf"{NUMBER} s", out)
    shapes = ["64x1->6 28px k5 s1 p2", "64x6->16 14px k5 s1 p0", "32x3->64 32px k3 s1 p1",
              "64x64->64 32px k3 s1 p1", "64x64->128 32px k3 s2 p1", "64x128->128 16px k3 s1 p1",
              "64x256->256 8px k3 s1 p1"]
    labels = [f"conv {shape} {kind}" for shape in shapes for kind in ("fwd", "fwd+bwd")]
    labels += [f"{op} 64x64x32x32 {kind}" for op in ("maxpool 2x2/2", "maxpool 3x3/2")
               for kind in ("fwd", "fwd+bwd")]
    labels += ["batchnorm2d 64x64x32x32 train fwd", "batchnorm2d 64x64x32x32 train fwd+bwd"]
    for label in labels:
        # minicnn ms, GFLOP/s (or —), numpy ms
        row = re.search(rf"^{re.escape(label)}\s+{NUMBER}\s+(?:{NUMBER}|—)\s+{NUMBER}\s", out,
                        re.MULTILINE)
        assert row, f"no row {label!r} in:\n{out}"
        assert float(row.group(1)) > 0 and float(row.group(3)) > 0


def test_bench_layers_compares_the_convolution_methods():
    out = run_script("bench_layers.py", "--methods")
    # The shapes and methods, from the script itself; in a subprocess, because its helper
    # module ``_common`` would shadow the examples' module of the same name in this one.
    listed = subprocess.run([sys.executable, "-c", "import json, bench_layers as b; "
                             "print(json.dumps([b.METHOD_SHAPES, b.CONV_METHODS]))"],
                            cwd=BENCHMARKS, text=True, capture_output=True, check=True).stdout
    shapes, conv_methods = json.loads(listed)
    methods = "|".join(conv_methods)
    for n, cin, cout, hw, k, _, p in shapes:
        label = f"conv {n}x{cin}->{cout} {hw}px k{k} p{p} fwd+bwd"
        row = re.search(rf"^{re.escape(label)}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+({methods})"
                        rf"\s+({methods})", out, re.MULTILINE)
        assert row, f"no row {label!r} in:\n{out}"
        times = [float(row.group(i)) for i in (1, 2, 3)]
        assert min(times) > 0
        # The "fastest" column names the smallest time.
        assert row.group(4) == conv_methods[times.index(min(times))]


def test_bench_train_prints_every_row():
    out = run_script("bench_train.py")
    memory_table = out[out.index("Peak memory"):]
    for model in ("LeNet-5", "ResNet-20", "VGG-11-BN"):
        for kind in ("train step", "inference"):
            row = re.search(rf"^{model} {kind}, batch \d+\s+{NUMBER}\s+{NUMBER}", out,
                            re.MULTILINE)
            assert row and float(row.group(1)) > 0, f"no {model} {kind} row in:\n{out}"
        peak = re.search(rf"^{model} train step, batch \d+\s+{NUMBER}\s+(-?{NUMBER})\s+—",
                         memory_table, re.MULTILINE)
        assert peak and float(peak.group(1)) > 0, f"no {model} memory row in:\n{out}"
    epoch = re.search(rf"LeNet-5 epoch, 6,000 images, batch 64, minicnn\s+{NUMBER}\s+{NUMBER}",
                      out)
    assert epoch and float(epoch.group(1)) > 0


def test_bench_layers_compares_im2col_and_winograd():
    out = run_script("bench_layers.py", "--winograd")
    listed = subprocess.run([sys.executable, "-c", "import json, bench_layers as b; "
                             "print(json.dumps(b.WINOGRAD_SHAPES))"],
                            cwd=BENCHMARKS, text=True, capture_output=True, check=True).stdout
    for n, cin, cout, hw, k, _, p in json.loads(listed):
        for mode in ("fwd", "fwd+bwd"):
            label = f"conv {n}x{cin}->{cout} {hw}px k{k} p{p} {mode}"
            row = re.search(rf"^{re.escape(label)}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}×", out,
                            re.MULTILINE)
            assert row, f"no row {label!r} in:\n{out}"
            im2col, winograd, ratio = (float(row.group(i)) for i in (1, 2, 3))
            assert im2col > 0 and winograd > 0
            assert ratio == pytest.approx(im2col / winograd, rel=0.05, abs=0.01)


def test_bench_distributed_prints_every_row():
    out = run_script("bench_distributed.py")
    assert re.search(r"lenet5(\s+[1-9][\d,]* img/s){3}", out), out  # the three settings
    for model in ("VGG19", "ResNet-20"):
        assert re.search(rf"{model} .*parameters\s+{NUMBER} MiB", out), out


def test_bench_fold_prints_every_row():
    out = run_script("bench_fold.py", "--batch", "2")
    for model in ("LeNet-5", "ResNet-20", "VGG-11-BN"):
        row = re.search(rf"^{model}, batch 2\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}×\s+{NUMBER}\s+"
                        rf"{NUMBER}\s+{NUMBER}×\s+\d+\s+\d+$", out, re.MULTILINE)
        assert row and float(row.group(1)) > 0 and float(row.group(2)) > 0, out
    folded = {m: int(re.search(rf"^{m}, batch 2 .* (\d+)\s+\d+$", out, re.MULTILINE).group(1))
              for m in ("LeNet-5", "ResNet-20")}
    assert folded == {"LeNet-5": 0, "ResNet-20": 13}  # LeNet-5 has no batch norm
