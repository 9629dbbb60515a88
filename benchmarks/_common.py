"""Shared helpers of the benchmark scripts: flags, worker processes, timing, tables.

Each library runs in its own worker process (``_worker.py``): minicnn, PyTorch and the plain
NumPy baseline share process-wide state (the BLAS thread pools and how long their idle threads
spin, PyTorch's OpenMP runtime), so in one process whichever loads first sets the terms for the
others. The parent imports none of them: it starts the workers with its own environment
and alternates requests between them.

``parse_args`` re-executes the script with the thread variables set when ``--threads`` asks for a
count that is not yet in place, so that the workers inherit them.
"""

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def parse_args(description: str, extra=None) -> argparse.Namespace:
    """The common flags; with ``--threads N`` the process re-executes itself once, env set."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=None, help="timed repetitions per row")
    parser.add_argument("--quick", action="store_true", help="few repetitions (smoke run)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for OpenBLAS, Numba and PyTorch (default: their own)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if present")
    parser.add_argument("--no-process-settings", action="store_true",
                        help="minicnn without minicnn.fast.configure_process() (see README)")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    # The workers inherit the choice (``configure_minicnn``); MINICNN_ENGINE passes through too.
    os.environ["BENCH_PROCESS_SETTINGS"] = "0" if args.no_process_settings else "1"
    if args.threads is not None:
        wanted = str(args.threads)
        if any(os.environ.get(var) != wanted for var in THREAD_VARS):
            for var in THREAD_VARS:
                os.environ[var] = wanted
            sys.stdout.flush()
            os.execv(sys.executable, [sys.executable, *sys.argv])
    return args


def configure_minicnn(minicnn) -> None:
    """``minicnn.fast.configure_process()``, as a training script does, unless the run was
    started with ``--no-process-settings``; call it before any thread starts."""
    if os.environ.get("BENCH_PROCESS_SETTINGS", "1") == "1":
        minicnn.fast.configure_process()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- worker processes ---------------------------------------------------------------------------

class Worker:
    """One library's worker process (``_worker.py``): JSON requests in, one JSON line back."""

    def __init__(self, lib: str, threads=None):
        self.lib = lib
        command = [sys.executable, os.path.join(HERE, "_worker.py"), lib]
        if threads:
            command += ["--threads", str(threads)]
        # stderr is inherited: the worker's warnings and tracebacks show in the terminal.
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)

    def request(self, cmd: str, **fields) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.lib} worker exited (code {self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"the {self.lib} worker failed on {cmd!r}:\n{reply['error']}")
        return reply

    def setup(self, factory: str, *args) -> list:
        """Build a case: ``factory`` is "module.function", called in the worker as
        ``function(lib, *args)``; its callables replace the worker's previous ones."""
        return self.request("setup", factory=factory, args=list(args))["names"]

    def time(self, name: str, k: int = 1, lead: int = 0, lead_seconds: float = 0.0) -> list:
        """Run the named callable ``lead`` times untimed, and again until ``lead_seconds`` have
        passed, then k times; the seconds of each of the k runs, timed inside the worker
        (``time.perf_counter``)."""
        return self.request("time", name=name, k=k, lead=lead,
                            lead_seconds=lead_seconds)["seconds"]

    def info(self) -> dict:
        return self.request("info")

    def cpu_seconds(self):
        """CPU time of all the worker's threads so far (Linux ``schedstat``), or None."""
        total = 0
        try:
            for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
                try:
                    with open(f"/proc/{self.proc.pid}/task/{tid}/schedstat") as f:
                        total += int(f.read().split()[0])
                except (FileNotFoundError, ProcessLookupError):  # a thread just ended
                    pass
        except OSError:
            return None
        return total / 1e9

    def settle(self, window=0.005, busy=0.1, limit=0.5) -> float:
        """Wait until the worker is idle: under ``busy`` of a core over a ``window``.

        After a call returns, thread pools may keep spinning, waiting for more work (OpenBLAS's
        threads for ~0.1 s); the next worker's timed call would compete with them, which no
        single-library process sees. Returns the seconds waited (at most ``limit``).
        """
        start = time.perf_counter()
        before = self.cpu_seconds()
        while before is not None and time.perf_counter() - start < limit:
            time.sleep(window)
            now = self.cpu_seconds()
            if now is None or now - before < busy * window:
                break
            before = now
        return time.perf_counter() - start

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.request("quit")
                self.proc.wait(timeout=30)
            except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def torch_wanted(args) -> bool:
    """PyTorch is benchmarked unless ``--no-torch`` or not installed (checked without import)."""
    return not args.no_torch and importlib.util.find_spec("torch") is not None


@contextlib.contextmanager
def workers(args, libs):
    """{lib: Worker} for each library in ``libs`` (torch dropped if unwanted), closed at exit."""
    started = {}
    try:
        for lib in libs:
            if lib != "torch" or torch_wanted(args):
                started[lib] = Worker(lib, args.threads)
        yield started
    finally:
        for worker in started.values():
            worker.close()


# The lead-in of every timed turn (see ``alternate``).
LEAD_SECONDS = 0.1


def setup_all(workers_: dict, factory: str, *args) -> None:
    for worker in workers_.values():
        worker.setup(factory, *args)


def alternate(calls: dict, repeat: int, warmup: int = 1, lead: int = 1,
              lead_seconds: float = LEAD_SECONDS) -> dict:
    """{label: (worker, name)} -> {label: [seconds]}: ``warmup`` untimed calls each, then
    ``repeat`` rounds of one turn per worker, round-robin (a, b, c, a, b, c, ...).

    Interleaving makes all see the same machine load, so their ratios are fair on a noisy host.
    A turn is a lead-in of untimed calls (at least ``lead``, for at least ``lead_seconds``)
    and one timed call, timed inside the worker. The lead-in wakes the thread pools that went
    to sleep while the other workers ran, and brings the virtual machine back to the speed of
    a busy loop: after 50 ms idle, a 0.7 ms convolution took 4 ms even right after one
    untimed call, and 0.9 ms only after 50 ms of back-to-back calls. So the timed call runs as
    in a training loop. After each turn the parent waits until that worker's threads stop
    spinning (``Worker.settle``), so they do not slow the next worker.
    """
    if warmup:
        for worker, name in calls.values():
            worker.time(name, warmup)
            worker.settle()
    times = {label: [] for label in calls}
    for _ in range(repeat):
        for label, (worker, name) in calls.items():
            times[label] += worker.time(name, lead=lead, lead_seconds=lead_seconds)
            worker.settle()
    return times


def cpu_times():
    """The machine's CPU times so far (``/proc/stat``'s first line), or None off Linux."""
    try:
        with open("/proc/stat") as stat:
            return [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def steal_share(before, after):
    """Share of all CPU time between two ``cpu_times()`` that the hypervisor took away
    ("steal": the virtual CPUs wanted to run but the host ran something else); None if unknown.
    """
    if before is None or after is None:
        return None
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / sum(spent) if sum(spent) else 0.0


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def version_line() -> str:
    """Versions from the installed packages' metadata: nothing is imported here."""
    from importlib import metadata

    parts = [f"Python {platform.python_version()}"]
    for package in ("numpy", "numba", "torch"):
        try:
            parts.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package} absent")
    return ", ".join(parts)


def worker_lines(workers_: dict) -> list:
    """One line per worker: the threads it actually uses."""
    lines = []
    for lib, worker in workers_.items():
        info = worker.info()
        pools = ", ".join(f"{p['internal_api']} {p['version'] or ''} {p['num_threads']}"
                          .replace("  ", " ") for p in info["pools"])
        wait = info["env"].get("OMP_WAIT_POLICY", "unset")
        if lib == "minicnn":
            what = f"minicnn.get_num_threads() {info['threads']}"
        elif lib == "torch":
            what = (f"torch.get_num_threads() {info['threads']}, interop "
                    f"{info['interop_threads']}")
        else:
            what = f"BLAS threads {info['threads']}"
        lines.append(f"  {lib} worker (pid {worker.proc.pid}): {what}; threadpoolctl: "
                     f"{pools or 'none'}; OMP_WAIT_POLICY {wait}")
    return lines


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
