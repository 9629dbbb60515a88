"""examples/sweep.py: the learning-rate and weight-decay search, as a grid and as an Optuna study.

The script runs in subprocesses on a few hundred MNIST images (from $MINICNN_DATA), as a
student runs it. Checked:

* the grid (2 × 1 values, 1 epoch, 2 joblib workers): one table row per pair, every worker on
  one thread (the threads column, and CPU time over wall time at most 1.05: two busy threads
  would show up to 2), and the JSON's best configuration is the table's best row;
* the Optuna study (3 trials, 2 epochs) in a journal file: the table, the JSON, and a second
  run on the same file holding the first run's trials, unchanged, plus its own;
* pruning through fit's epoch callback: a study whose only finished trial reached 100% at every
  epoch (written here, through the same journal file) has the median pruner stop the script's
  trial after epoch 1, shown as "pruned at epoch 1" and recorded as PRUNED with one reported
  step; the callback itself, against a stand-in trial, reports each epoch's validation accuracy
  and ends fit where told, but not after the last epoch (a finished result);
* a learning rate that makes training diverge shows as "diverged", in both searches, and is
  never the best; Ctrl-C in a trial (which fit turns into a clean return) ends the sweep;
* errors: a missing joblib or Optuna exits with one line naming the extra to install; bad
  ranges are refused by the parser with the flag's name;
* minicnn itself imports neither.

joblib and Optuna come with the dev extra (``pip install -e ".[dev]"``, as CI does): without
them these tests fail with ModuleNotFoundError rather than skip.
"""

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from test_examples_deep import DATA_DIR, EXAMPLES, load_example, needs

import minicnn

pytestmark = pytest.mark.slow

SCRIPT = EXAMPLES / "sweep.py"
TINY = ["--limit", "300", "--val-size", "60", "--batch-size", "32", "--data-dir", str(DATA_DIR),
        "--no-download"]
# trial, lr, weight decay, val acc, epochs, status (words), seconds[, cpu/wall, threads]
ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(.+?)\s+(\d+\.\d|nan)"
                 r"(?:\s+(\d+\.\d\d)\s+(\d+\+\d+))?$")


def run_sweep(*flags, timeout=300) -> str:
    result = subprocess.run([sys.executable, str(SCRIPT), *map(str, flags)], text=True,
                            capture_output=True, timeout=timeout,
                            env=dict(os.environ, MPLBACKEND="Agg"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def table(stdout: str) -> list:
    """The printed table as dicts (val acc as a fraction, NaN for n/a)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["trial", "lr"])
    rows = []
    for line in lines[start + 1:]:
        match = ROW.match(line)
        if not match:
            break
        trial, lr, wd, acc, epochs, status, seconds, cpu, threads = match.groups()
        rows.append({"trial": int(trial), "lr": float(lr), "weight_decay": float(wd),
                     "acc_text": acc, "val_acc": math.nan if acc == "n/a" else
                     float(acc.rstrip("%")) / 100, "epochs": int(epochs), "status": status,
                     "seconds": float(seconds), "cpu_per_wall": cpu and float(cpu),
                     "threads": threads})
    return rows


def check_best(out_file, rows: list) -> dict:
    """The JSON names the first finished row of the highest accuracy, with its numbers."""
    best = json.loads(out_file.read_text())
    finished = [row for row in rows if row["status"] == "done"]
    top = max(row["val_acc"] for row in finished)
    expected = next(row for row in finished if row["val_acc"] == top)
    assert best["trial"] == expected["trial"]
    assert f"{best['val_acc']:.2%}" == expected["acc_text"]
    assert f"{best['lr']:.3g}" == f"{expected['lr']:.3g}"
    assert f"{best['weight_decay']:.3g}" == f"{expected['weight_decay']:.3g}"
    assert best["trials"] == len(rows)
    assert not [p.name for p in out_file.parent.iterdir() if p.name.startswith(".")]
    return best


# -- the grid --------------------------------------------------------------------------------------
@needs("mnist")
def test_grid_runs_each_pair_in_a_one_thread_worker_and_writes_the_best(tmp_path):
    out = tmp_path / "best.json"
    stdout = run_sweep("--grid", "--lrs", 0.05, 0.005, "--weight-decays", 0, "--epochs", 1,
                       "--n-jobs", 2, "--out", out, *TINY)
    assert "grid: 2 trials on 2 worker processes, one thread each" in stdout
    rows = table(stdout)
    assert [(row["lr"], row["weight_decay"]) for row in rows] == [(0.05, 0.0), (0.005, 0.0)]
    for row in rows:
        assert row["status"] == "done" and row["epochs"] == 1
        assert row["threads"] == "1+1"  # kernels + BLAS, as the worker saw them
        assert 0 < row["cpu_per_wall"] <= 1.05
    best = check_best(out, rows)
    assert best["method"] == "grid" and best["epochs"] == 1
    assert best["recipe"]["limit"] == 300


# -- the Optuna study ------------------------------------------------------------------------------
@needs("mnist")
def test_optuna_study_in_a_journal_file_is_shared_by_two_runs(tmp_path):
    import optuna
    storage, out = tmp_path / "journal.log", tmp_path / "best.json"
    common = ["--optuna", "--storage", storage, "--study-name", "shared", "--epochs", 2,
              "--pruner", "none", "--out", out, *TINY]
    first = run_sweep(*common, "--n-trials", 3)
    assert "0 trials so far; adding 3" in first
    rows = table(first)
    assert [row["trial"] for row in rows] == [0, 1, 2]
    assert all(row["status"] == "done" and row["epochs"] == 2 for row in rows)
    assert all(1e-3 <= row["lr"] <= 0.3 and 1e-6 <= row["weight_decay"] <= 1e-2 for row in rows)
    check_best(out, rows)

    second = run_sweep(*common, "--n-trials", 1)
    assert "3 trials so far; adding 1" in second
    rows_again = table(second)
    assert [row["trial"] for row in rows_again] == [0, 1, 2, 3]
    assert rows_again[:3] == rows  # the first run's trials, read back from the file
    best = check_best(out, rows_again)
    assert best["study_name"] == "shared" and best["storage"] == str(storage)

    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(study_name="shared",
                              storage=JournalStorage(JournalFileBackend(str(storage))))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert [sorted(t.intermediate_values) for t in study.trials] == [[1, 2]] * 4


@needs("mnist")
def test_optuna_median_pruner_stops_a_trial_through_the_epoch_callback(tmp_path):
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage, out = tmp_path / "journal.log", tmp_path / "best.json"
    journal = JournalStorage(JournalFileBackend(str(storage)))
    study = optuna.create_study(study_name="pruned", storage=journal, direction="maximize")
    # A finished trial that reached 100% after every epoch: the median of the finished trials
    # at epoch 1 is 100%, and a trial of a few hundred images cannot reach it.
    study.add_trial(optuna.trial.create_trial(
        params={"lr": 0.01, "weight_decay": 1e-4},
        distributions={"lr": FloatDistribution(1e-3, 0.3, log=True),
                       "weight_decay": FloatDistribution(1e-6, 1e-2, log=True)},
        value=1.0, intermediate_values={1: 1.0, 2: 1.0}))
    stdout = run_sweep("--optuna", "--storage", storage, "--study-name", "pruned",
                       "--n-trials", 1, "--epochs", 2, "--n-startup-trials", 1, "--out", out,
                       *TINY)
    rows = table(stdout)
    assert [row["status"] for row in rows] == ["done", "pruned at epoch 1"]
    assert rows[1]["epochs"] == 1 and rows[1]["val_acc"] < 1.0
    assert json.loads(out.read_text())["trial"] == 0  # pruned trials are never the best

    trial = optuna.load_study(study_name="pruned", storage=journal).trials[1]
    assert trial.state.name == "PRUNED"
    assert list(trial.intermediate_values) == [1]
    assert f"{trial.intermediate_values[1]:.2%}" == rows[1]["acc_text"]


class StandInTrial:
    """What OptunaPruning uses of an optuna.Trial: report, should_prune, number."""

    def __init__(self, prune_at_step: int):
        self.number, self.prune_at_step, self.reported = 7, prune_at_step, []

    def report(self, value, step):
        self.reported.append((step, value))

    def should_prune(self) -> bool:
        return self.reported[-1][0] == self.prune_at_step


def tiny_arrays(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, n)
    return x[:32], y[:32], x[32:], y[32:]


SETTINGS = {"epochs": 3, "batch_size": 16, "momentum": 0.9, "seed": 0}


@pytest.mark.parametrize("engine", minicnn.engines.ENGINES)
def test_pruning_callback_reports_each_epoch_and_stops_fit_where_told(engine):
    sweep = load_example("sweep")
    trial = StandInTrial(prune_at_step=2)
    callback = sweep.OptunaPruning(trial, epochs=3)
    row = sweep.train_trial(0.01, 0.0, dict(SETTINGS, engine=engine), tiny_arrays(),
                            callbacks=[callback])
    assert row["status"] == "pruned at epoch 2" and row["epochs"] == 2
    assert [step for step, _ in trial.reported] == [1, 2]
    assert trial.reported[-1][1] == row["val_acc"]


def test_pruning_callback_does_not_prune_after_the_last_epoch():
    sweep = load_example("sweep")
    trial = StandInTrial(prune_at_step=3)  # the pruner would say yes after the last epoch
    row = sweep.train_trial(0.01, 0.0, dict(SETTINGS, engine="reference"), tiny_arrays(),
                            callbacks=[sweep.OptunaPruning(trial, epochs=3)])
    assert row["status"] == "done" and row["epochs"] == 3
    assert [step for step, _ in trial.reported] == [1, 2, 3]


class CtrlCAfterFirstEpoch:
    def on_epoch_end(self, epoch, history, model):
        raise KeyboardInterrupt  # as Ctrl-C would, inside fit's loop


def test_ctrl_c_in_a_trial_ends_the_sweep_instead_of_a_short_trial_counting_as_done(capsys):
    sweep = load_example("sweep")
    with pytest.raises(KeyboardInterrupt):
        sweep.train_trial(0.01, 0.0, dict(SETTINGS, engine="reference"), tiny_arrays(),
                          callbacks=[CtrlCAfterFirstEpoch()])
    assert "fit: interrupted (KeyboardInterrupt) in epoch 1" in capsys.readouterr().out


@pytest.mark.parametrize("engine", minicnn.engines.ENGINES)
def test_a_diverging_learning_rate_is_shown_as_diverged_and_never_best(engine, tmp_path):
    sweep = load_example("sweep")
    threads = minicnn.get_num_threads()
    try:
        args = sweep.parse_args(["--lrs", "1e4", "0.01", "--weight-decays", "0", "--n-jobs",
                                 "1", "--epochs", "2", "--engine", engine])
        rows = sweep.run_grid(args, tiny_arrays())  # one job: in this process, no pickling
    finally:
        minicnn.set_num_threads(threads["kernels"], threads["blas"])
    diverged = re.fullmatch(r"diverged at epoch ([12])", rows[0]["status"])
    assert diverged and rows[0]["epochs"] == int(diverged.group(1)) - 1  # the epochs finished
    assert rows[0]["status"] in sweep.format_table(rows).splitlines()[1]
    assert rows[1]["status"] == "done" and rows[1]["epochs"] == 2
    assert sweep.best_row(rows) is rows[1]

    args = sweep.parse_args(["--optuna", "--storage", str(tmp_path / "j.log"), "--n-trials",
                             "1", "--lr-range", "1e4", "1e4", "--epochs", "2", "--engine",
                             engine])
    rows = sweep.run_optuna(args, tiny_arrays())
    assert len(rows) == 1 and re.fullmatch(r"diverged at epoch [12]", rows[0]["status"])
    assert sweep.best_row(rows) is None


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("flag", "module"), [("--grid", "joblib"), ("--optuna", "optuna")])
def test_a_missing_extra_is_named(flag, module, tmp_path):
    code = (f"import runpy, sys; sys.modules[{module!r}] = None; "  # import then fails
            f"sys.path.insert(0, {str(EXAMPLES)!r}); sys.argv = ['sweep.py', {flag!r}, "
            f"'--out', {str(tmp_path / 'best.json')!r}]; "
            f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], text=True, capture_output=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == (f'error: {flag} needs {module}, which is not installed: '
                                     f'pip install "minicnn[sweep]" (or pip install {module})')
    assert not (tmp_path / "best.json").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["--optuna", "--lr-range", "0", "0.1"], r"--lr-range: expected 0 < LOW <= HIGH"),
    (["--optuna", "--weight-decay-range", "1e-2", "1e-4"],
     r"--weight-decay-range: expected 0 < LOW <= HIGH"),
    (["--lrs", "-0.1"], r"--lrs must be positive"),
    (["--n-jobs", "0"], r"--n-jobs must be at least 1"),
    (["--val-size", "0"], r"--val-size must be at least 1"),
    (["--grid", "--optuna"], r"not allowed with argument"),
])
def test_bad_arguments_are_refused_by_name(argv, message, capsys):
    sweep = load_example("sweep")
    with pytest.raises(SystemExit) as raised:
        sweep.parse_args(argv)
    assert raised.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_minicnn_imports_neither_joblib_nor_optuna():
    code = ("import sys, minicnn, minicnn.train, minicnn.callbacks, minicnn.io, minicnn.fast; "
            "minicnn.fast.set_num_threads(1); "
            "print(sorted({'joblib', 'optuna'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], text=True, capture_output=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
