"""Search the learning rate and weight decay of LeNet-5 on MNIST: a grid, or an Optuna study.

    python examples/sweep.py                     # --grid: 3 × 3 values, joblib, one thread a worker
    python examples/sweep.py --lrs 0.01 0.1 --weight-decays 0 5e-4 --n-jobs 2
    python examples/sweep.py --optuna --n-trials 12          # log-uniform lr and weight decay
    # two processes (two terminals, or two machines sharing a disk) working on ONE study:
    python examples/sweep.py --optuna --study-name lenet --storage runs/sweep/journal.log &
    python examples/sweep.py --optuna --study-name lenet --storage runs/sweep/journal.log

Every trial trains the recipe of examples/train_mnist_lenet.py (SGD with momentum, the learning
rate cosine-annealed to 0 over --epochs, the same seed: the same initial weights and batches)
on the first --limit training images, and is judged by its accuracy on --val-size of them held
out (the test set is not touched: choosing by it would make its accuracy a biased estimate).

--grid (the default) trains every pair of --lrs × --weight-decays, --n-jobs at a time, each in
a joblib (loky) worker process that uses ONE thread: minicnn's kernels and the BLAS each set
to 1, so that two workers on two cores do not fight over them. The table's cpu/wall column
(CPU seconds of the worker over its wall seconds) shows it: at most 1.0 for one thread.
--optuna samples the two log-uniformly with Optuna's TPE and keeps the study in a journal file
(--storage): any number of processes started with the same --study-name and --storage share
it, each adding --n-trials. A MedianPruner stops a trial after an epoch whose validation
accuracy is below the median of the finished trials' at that epoch; fit's epoch callback
reports it (``OptunaPruning`` below). A learning rate that makes training diverge ends its
trial, shown as "diverged" (Optuna records it as pruned).

Both print a table of the trials and write the best configuration to --out (JSON, atomically).
Needs the extra: pip install "minicnn[sweep]" (joblib and Optuna; minicnn itself never imports
them). Measured on this machine (2 cores, shared with other work): the default grid, 9 trials
of 4 epochs on 25,000 images, in 106 s; two workers of two threads each instead of one ran a
smaller grid 5-6 times slower (docs/sweeps.md).
"""

import argparse
import importlib
import math
import os
import sys
import time

import _common as common
import numpy as np
from train_mnist_lenet import MNIST_MEAN, MNIST_STD

import minicnn
from minicnn import data, models, nn, optim
from minicnn.callbacks import Callback, StopTraining

EXTRA = 'pip install "minicnn[sweep]"'


# -- command line ----------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    method = parser.add_mutually_exclusive_group()
    method.add_argument("--grid", dest="method", action="store_const", const="grid",
                        help="every pair of --lrs and --weight-decays, with joblib (the default)")
    method.add_argument("--optuna", dest="method", action="store_const", const="optuna",
                        help="an Optuna study in a journal file, with pruning")
    parser.set_defaults(method="grid")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--limit", type=int, default=30000,
                        help="use only the first N training images (validation included)")
    parser.add_argument("--val-size", type=int, default=5000,
                        help="of them, held out to judge the trials (at most a fifth)")
    parser.add_argument("--data-dir", default=None,
                        help="dataset root (default: $MINICNN_DATA, else ~/.cache/minicnn)")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading missing files")
    parser.add_argument("--seed", type=int, default=0,
                        help="minicnn's seed: every trial starts from the same weights")
    parser.add_argument("--engine", choices=minicnn.engines.ENGINES, default=None)
    parser.add_argument("--out", default=os.path.join("runs", "sweep", "best.json"),
                        help="where the best configuration is written (JSON)")
    grid = parser.add_argument_group("--grid")
    grid.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.03, 0.1])
    grid.add_argument("--weight-decays", type=float, nargs="+", default=[0.0, 5e-4, 5e-3])
    grid.add_argument("--n-jobs", type=int, default=_usable_cores(),
                      help="worker processes (default: the usable cores), one thread each; "
                           "1: the trials one after another in this process, on one thread")
    study = parser.add_argument_group("--optuna")
    study.add_argument("--study-name", default="lenet5-mnist")
    study.add_argument("--storage", default=os.path.join("runs", "sweep", "journal.log"),
                       help="the journal file the processes of one study share")
    study.add_argument("--n-trials", type=int, default=12, help="trials this process adds")
    study.add_argument("--lr-range", type=float, nargs=2, default=[1e-3, 0.3],
                       metavar=("LOW", "HIGH"))
    study.add_argument("--weight-decay-range", type=float, nargs=2, default=[1e-6, 1e-2],
                       metavar=("LOW", "HIGH"))
    study.add_argument("--pruner", choices=("median", "none"), default="median")
    study.add_argument("--n-startup-trials", type=int, default=5,
                       help="MedianPruner: finished trials before it prunes")
    study.add_argument("--n-warmup-steps", type=int, default=0,
                       help="MedianPruner: epochs of a trial before it may be pruned")
    study.add_argument("--threads", type=int, default=None,
                       help="kernel and BLAS threads of this process (default: every core); "
                            "two processes on one machine: the cores divided by 2 each")
    study.add_argument("--sampler-seed", type=int, default=None,
                       help="seeds the TPE sampler (give each process its own, or none)")
    args = parser.parse_args(argv)
    _check(parser, args)
    return args


def _check(parser, args) -> None:
    for flag, minimum in (("epochs", 1), ("batch_size", 1), ("limit", 2), ("n_jobs", 1),
                          ("n_trials", 1), ("threads", 1), ("n_startup_trials", 0),
                          ("n_warmup_steps", 0)):
        if getattr(args, flag) is not None and getattr(args, flag) < minimum:
            parser.error(f"--{flag.replace('_', '-')} must be at least {minimum}")
    if args.val_size < 1:
        parser.error("--val-size must be at least 1: the trials are judged on it")
    if any(lr <= 0 for lr in args.lrs) or any(wd < 0 for wd in args.weight_decays):
        parser.error("--lrs must be positive and --weight-decays 0 or more")
    for flag in ("lr_range", "weight_decay_range"):
        low, high = getattr(args, flag)
        if not 0 < low <= high:
            parser.error(f"--{flag.replace('_', '-')}: expected 0 < LOW <= HIGH (sampled "
                         f"log-uniformly), got {low:g} {high:g}")


def _usable_cores() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def require(module: str, flag: str):
    """Import an optional dependency, or exit with one line naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        sys.exit(f"error: {flag} needs {module}, which is not installed: {EXTRA} "
                 f"(or pip install {module})")


# -- one trial -------------------------------------------------------------------------------------
def load_data(args):
    """(x_train, y_train, x_val, y_val): the first --limit images, normalised, --val-size held
    out (drawn with --seed, the same for every trial and every process)."""
    splits = common.load_splits(data.MNIST, args)
    if splits.val is None:
        raise SystemExit("error: no validation images: raise --limit or --val-size")
    normalize = data.Normalize((MNIST_MEAN,), (MNIST_STD,))
    (x, y), (x_val, y_val) = splits.train, splits.val
    return normalize(x), y, normalize(x_val), y_val


def recipe(args) -> dict:
    """What every trial shares besides lr and weight decay (sent to the workers)."""
    return {"epochs": args.epochs, "batch_size": args.batch_size, "momentum": args.momentum,
            "seed": args.seed, "engine": args.engine or minicnn.get_engine()}


def train_trial(lr: float, weight_decay: float, settings: dict, arrays, callbacks=None) -> dict:
    """Train one LeNet-5 with these hyper-parameters; returns the trial's row of the table.

    ``val_acc`` is the validation accuracy after the last epoch run; ``status`` is "done",
    "diverged at epoch E" (the loss or the weights became NaN/inf) or what a
    callback that stopped the run left in its ``stopped`` attribute.
    """
    x, y, x_val, y_val = arrays
    minicnn.manual_seed(settings["seed"])  # same weights and batch order in every trial
    model = models.lenet5(input_size=28)
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=settings["momentum"],
                          weight_decay=weight_decay)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=settings["epochs"])
    train_loader = data.DataLoader((x, y), batch_size=settings["batch_size"], shuffle=True,
                                   seed=settings["seed"])
    val_loader = data.DataLoader((x_val, y_val), batch_size=1000)
    history = minicnn.History()
    status = "done"
    wall, cpu = time.perf_counter(), time.process_time()
    # A diverging run overflows on its way to the NaN/inf that fit reports: no warnings for it.
    with minicnn.engine(settings["engine"]), np.errstate(over="ignore", invalid="ignore"):
        try:
            minicnn.fit(model, nn.CrossEntropyLoss(), optimizer, train_loader,
                        epochs=settings["epochs"], val_loader=val_loader, scheduler=scheduler,
                        verbose=False, history=history, callbacks=callbacks)
        except FloatingPointError:  # the loss, the outputs or (in validation) the weights
            status = f"diverged at epoch {len(history) + 1}"
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    for callback in callbacks or ():
        status = getattr(callback, "stopped", None) or status
    if status == "done" and len(history) < settings["epochs"]:
        raise KeyboardInterrupt  # fit ended the run cleanly on Ctrl-C: end the sweep too
    return {"lr": lr, "weight_decay": weight_decay,
            "val_acc": history.val_acc[-1] if len(history) else float("nan"),
            "epochs": len(history), "status": status, "seconds": wall,
            "cpu_per_wall": cpu / wall, "threads": minicnn.get_num_threads()}


# -- the grid, with joblib -------------------------------------------------------------------------
def grid_worker(lr: float, weight_decay: float, settings: dict, arrays) -> dict:
    """One grid trial in a joblib worker process, on one thread: minicnn's kernels and the BLAS
    (joblib already sets OMP_NUM_THREADS and the like for libraries loaded later)."""
    minicnn.set_num_threads(1)
    return train_trial(lr, weight_decay, settings, arrays)


def run_grid(args, arrays) -> list:
    joblib = require("joblib", "--grid")
    pairs = [(lr, wd) for lr in args.lrs for wd in args.weight_decays]
    jobs = min(args.n_jobs, len(pairs))
    print(f"grid: {len(pairs)} trials on {jobs} worker process{'es' if jobs > 1 else ''}, "
          f"one thread each")
    settings = recipe(args)
    # loky: fresh processes; inner_max_num_threads=1 sets the thread variables there.
    with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
        rows = joblib.Parallel(n_jobs=jobs)(
            joblib.delayed(grid_worker)(lr, wd, settings, arrays) for lr, wd in pairs)
    for number, row in enumerate(rows):
        row["trial"] = number
    return rows


# -- the Optuna study ------------------------------------------------------------------------------
class OptunaPruning(Callback):
    """fit's epoch callback for an Optuna trial: reports the validation accuracy after each
    epoch (the step is the epoch, counted from 1) and ends the run when the pruner says so.

    It raises ``StopTraining``, which ``fit`` catches, so that the History of the epochs run
    survives; the objective then raises ``optuna.TrialPruned`` itself. After the last of
    ``epochs`` it only reports: pruning then would save nothing and discard a finished result.
    """

    def __init__(self, trial, epochs: int):
        self.trial, self.epochs, self.stopped = trial, epochs, None

    def on_epoch_end(self, epoch: int, history, model) -> None:
        accuracy = history.val_acc[-1]
        self.trial.report(accuracy, step=epoch + 1)
        if epoch + 1 < self.epochs and self.trial.should_prune():
            self.stopped = f"pruned at epoch {epoch + 1}"
            raise StopTraining(f"Optuna pruned trial {self.trial.number} at epoch {epoch + 1} "
                               f"(val acc {accuracy:.2%})")


def open_study(args):
    """The study ``--study-name`` in the journal file ``--storage``, created if new."""
    optuna = require("optuna", "--optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend  # Optuna >= 4.0

    os.makedirs(os.path.dirname(os.path.abspath(args.storage)), exist_ok=True)
    storage = JournalStorage(JournalFileBackend(args.storage))
    pruner = optuna.pruners.NopPruner() if args.pruner == "none" else optuna.pruners.MedianPruner(
        n_startup_trials=args.n_startup_trials, n_warmup_steps=args.n_warmup_steps)
    return optuna.create_study(storage=storage, study_name=args.study_name, direction="maximize",
                               sampler=optuna.samplers.TPESampler(seed=args.sampler_seed),
                               pruner=pruner, load_if_exists=True)


def run_optuna(args, arrays) -> list:
    study = open_study(args)
    optuna = sys.modules["optuna"]
    settings = recipe(args)
    if args.threads is not None:
        minicnn.set_num_threads(args.threads)

    def objective(trial):
        lr = trial.suggest_float("lr", *args.lr_range, log=True)
        weight_decay = trial.suggest_float("weight_decay", *args.weight_decay_range, log=True)
        row = train_trial(lr, weight_decay, settings, arrays,
                          callbacks=[OptunaPruning(trial, args.epochs)])
        for key in ("epochs", "status", "seconds"):
            trial.set_user_attr(key, row[key])
        if row["status"] != "done":  # pruned or diverged: not a result to compare
            raise optuna.TrialPruned(row["status"])
        return row["val_acc"]

    before = len(study.trials)
    print(f"optuna: study '{args.study_name}' in {args.storage}, {before} trials so far; "
          f"adding {args.n_trials}")
    study.optimize(objective, n_trials=args.n_trials)
    return study_rows(study)


def study_rows(study) -> list:
    """The table's rows of every trial in the study, this process's and the others'."""
    rows = []
    for trial in study.trials:
        steps = trial.intermediate_values
        if trial.value is not None:
            accuracy = trial.value
        else:
            accuracy = steps[max(steps)] if steps else float("nan")
        status = trial.user_attrs.get("status") or trial.state.name.lower()
        rows.append({"trial": trial.number, "lr": trial.params.get("lr", float("nan")),
                     "weight_decay": trial.params.get("weight_decay", float("nan")),
                     "val_acc": accuracy, "epochs": trial.user_attrs.get("epochs", len(steps)),
                     "status": status if trial.state.name != "COMPLETE" else "done",
                     "seconds": trial.user_attrs.get("seconds", float("nan"))})
    return rows


# -- results ---------------------------------------------------------------------------------------
def format_table(rows: list) -> str:
    """One line per trial; the grid's rows also show their CPU/wall ratio and threads."""
    grid = "cpu_per_wall" in rows[0]
    head = f"{'trial':>5}  {'lr':>9}  {'weight decay':>12}  {'val acc':>7}  {'epochs':>6}  " \
           f"{'status':<20}  {'seconds':>7}" + ("  cpu/wall  threads" if grid else "")
    lines = [head]
    for row in rows:
        accuracy = "n/a" if math.isnan(row["val_acc"]) else f"{row['val_acc']:.2%}"
        line = (f"{row['trial']:>5}  {row['lr']:>9.3g}  {row['weight_decay']:>12.3g}  "
                f"{accuracy:>7}  {row['epochs']:>6}  {row['status']:<20}  "
                f"{row['seconds']:>7.1f}")
        if grid:
            threads = row["threads"]
            line += f"  {row['cpu_per_wall']:>8.2f}  {threads['kernels']}+{threads['blas']}"
        lines.append(line)
    return "\n".join(lines)


def best_row(rows: list):
    """The finished trial with the highest validation accuracy (the first of equals), or None."""
    finished = [row for row in rows if row["status"] == "done" and not math.isnan(row["val_acc"])]
    return max(finished, key=lambda row: row["val_acc"], default=None)


def best_configuration(args, best: dict, rows: list) -> dict:
    configuration = {"method": args.method, "trial": best["trial"], "lr": best["lr"],
                     "weight_decay": best["weight_decay"], "val_acc": best["val_acc"],
                     "epochs": best["epochs"], "trials": len(rows),
                     "recipe": {"momentum": args.momentum, "batch_size": args.batch_size,
                                "limit": args.limit, "val_size": args.val_size,
                                "seed": args.seed}}
    if args.method == "optuna":
        configuration.update(study_name=args.study_name, storage=os.path.abspath(args.storage))
    return configuration


def main(argv=None) -> dict:
    args = parse_args(argv)
    require("joblib" if args.method == "grid" else "optuna", f"--{args.method}")
    if args.engine is not None:
        minicnn.set_engine(args.engine)
    arrays = load_data(args)
    print(f"{len(arrays[0]):,} training images, {len(arrays[2]):,} validation images, "
          f"{args.epochs} epoch{'s' if args.epochs > 1 else ''} a trial")
    start = time.perf_counter()
    rows = run_grid(args, arrays) if args.method == "grid" else run_optuna(args, arrays)
    print(format_table(rows))
    print(f"{time.perf_counter() - start:.0f} s in all")
    best = best_row(rows)
    if best is None:
        raise SystemExit("error: no trial finished (all pruned or diverged): nothing written")
    configuration = best_configuration(args, best, rows)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    common.save_json(args.out, configuration)
    print(f"best: trial {best['trial']}, lr {best['lr']:.3g}, weight decay "
          f"{best['weight_decay']:.3g}, val acc {best['val_acc']:.2%}; wrote {args.out}")
    print(f"train with it: python examples/train_mnist_lenet.py --lr {best['lr']:.3g} "
          f"--weight-decay {best['weight_decay']:.3g}")
    return configuration


if __name__ == "__main__":
    common.run(main)
