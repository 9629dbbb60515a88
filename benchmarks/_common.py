"""Shared helpers of the benchmark scripts: flags, thread setup, timing, tables.

Imports nothing heavy at module level: the thread counts must be in the environment before
NumPy (OpenBLAS), Numba or PyTorch start their thread pools, so ``parse_args`` re-executes the
script with the variables set when ``--threads`` asks for a count that is not yet in place.
"""

import argparse
import os
import statistics
import sys
import time

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(description: str, extra=None) -> argparse.Namespace:
    """The common flags; with ``--threads N`` the process re-executes itself once, env set."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=None, help="timed repetitions per row")
    parser.add_argument("--quick", action="store_true", help="few repetitions (smoke run)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for OpenBLAS, Numba and PyTorch (default: their own)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if present")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if args.threads is not None:
        wanted = str(args.threads)
        if any(os.environ.get(var) != wanted for var in THREAD_VARS):
            for var in THREAD_VARS:
                os.environ[var] = wanted
            sys.stdout.flush()
            os.execv(sys.executable, [sys.executable, *sys.argv])
    return args


def thread_count() -> int:
    """The thread count PyTorch should use to match: Numba's (= cores unless set)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def load_torch(args):
    """PyTorch with the matching thread count, or None when absent or ``--no-torch``."""
    if args.no_torch:
        return None
    # minicnn.kernels sets OMP_WAIT_POLICY=PASSIVE (unless set) on import. PyTorch loads the
    # same libgomp that Numba's "omp" threading layer uses, and libgomp reads the variable once,
    # when loaded: importing torch first would leave Numba's threads spinning after each loop
    # (measured: 2.7x slower conv layers). Import order as a minicnn user's script has it.
    import minicnn.kernels  # noqa: F401
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(args.threads or thread_count())
    return torch


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(fns: dict, repeat: int, warmup: int = 1) -> dict:
    """Time each callable ``repeat`` times, round-robin (a, b, a, b, ...): {name: [seconds]}.

    Interleaving makes both see the same machine load, so their ratio is fair on a noisy host.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            times[name].append(timed(fn))
    return times


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def version_line() -> str:
    import platform

    import numba
    import numpy

    parts = [f"Python {platform.python_version()}", f"numpy {numpy.__version__}",
             f"numba {numba.__version__}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__}")
    except ImportError:
        parts.append("torch absent")
    return ", ".join(parts)


def cpu_line() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    env = " ".join(f"{v}={os.environ[v]}" for v in (*THREAD_VARS, "OMP_WAIT_POLICY",
                                                    "NUMBA_THREADING_LAYER") if v in os.environ)
    return f"CPU {model}, {os.cpu_count()} cores; env: {env or '(thread variables unset)'}"


def fmt(value, spec: str = ".2f") -> str:
    if value is None or value != value:  # None or NaN
        return "—"
    return format(value, spec)


def print_table(title: str, header: list, rows: list, markdown: bool) -> None:
    """Print rows (lists of strings) as aligned text or as a Markdown table."""
    print()
    if markdown:
        print(f"**{title}**\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        print(title)
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                         for i, (h, w) in enumerate(zip(header, widths, strict=True)))
        print(line)
        print("-" * len(line))
        for row in rows:
            print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                            for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    sys.stdout.flush()
