"""One library's benchmark worker: ``python _worker.py {minicnn,torch,numpy} [--threads N]``.

Imports only its library (and NumPy, which all build their inputs with), so each runs with its
own settings: minicnn calls ``minicnn.fast.configure_process()`` as a training script does
(unless ``--no-process-settings``), and runs its kernels on its own threads; PyTorch and the
NumPy baseline keep the environment they were started with.

Reads one JSON request per line on stdin and answers one JSON line on stdout:

    {"cmd": "setup", "factory": "bench_layers.conv_case", "args": [...]}
        calls factory(lib, *args), which builds its inputs from a seeded generator and returns
        {name: callable}; these replace the previous case's callables. Answer: {"names": [...]}
    {"cmd": "time", "name": "fwd", "k": 1, "lead": 1, "lead_seconds": 0.1}
        runs the callable ``lead`` times untimed, and then again until ``lead_seconds`` have
        passed since the request came, then k times timed. Answer: {"seconds": [k times]}
    {"cmd": "info"}                           -> versions, threads, thread pools, environment
    {"cmd": "quit"}                           -> {} and exit

A failing request answers {"error": traceback}. Anything else the libraries print goes to stderr.
"""

import argparse
import importlib
import json
import os
import sys
import time
import traceback

from _common import configure_minicnn, timed


def load(lib: str, threads):
    if lib == "minicnn":
        import minicnn

        configure_minicnn(minicnn)
        return minicnn
    if lib == "torch":
        import torch

        torch.set_num_threads(threads or os.cpu_count())
        return torch
    import numpy

    return numpy


def info(lib: str, module) -> dict:
    from threadpoolctl import threadpool_info

    out = {"lib": lib, "version": module.__version__}
    if lib == "minicnn":
        import numba
        import numpy as np

        module.nn.MaxPool2d(2)(np.zeros((1, 1, 4, 4), np.float32))  # as a user's first step
        out.update(threads=module.get_num_threads(), numba_version=numba.__version__,
                   engine=module.get_engine(),
                   process_settings=os.environ.get("BENCH_PROCESS_SETTINGS", "1") == "1")
    elif lib == "torch":
        out.update(threads=module.get_num_threads(),
                   interop_threads=module.get_num_interop_threads())
    else:
        out["threads"] = max((p["num_threads"] for p in threadpool_info()
                              if p["user_api"] == "blas"), default=None)
    # After the first kernel call, so that what the library set on loading shows.
    out["env"] = {k: v for k, v in os.environ.items()
                  if k.startswith(("OMP_", "NUMBA_", "OPENBLAS_", "MKL_", "MINICNN_"))}
    out["pools"] = [{k: p.get(k) for k in ("internal_api", "version", "num_threads", "filepath")}
                    for p in threadpool_info()]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lib", choices=("minicnn", "torch", "numpy"))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    # Answers go to the original stdout; anything printed afterwards (Python or C) to stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    module = load(args.lib, args.threads)
    fns = {}
    while line := sys.stdin.readline():
        request = json.loads(line)
        try:
            cmd = request["cmd"]
            if cmd == "setup":
                fns = {}  # drop the previous case's arrays before building the next
                module_name, function = request["factory"].rsplit(".", 1)
                factory = getattr(importlib.import_module(module_name), function)
                fns = factory(args.lib, *request.get("args", []))
                answer = {"names": sorted(fns)}
            elif cmd == "time":
                fn = fns[request["name"]]
                lead_end = time.perf_counter() + request.get("lead_seconds", 0)
                for _ in range(request.get("lead", 0)):
                    fn()
                while time.perf_counter() < lead_end:
                    fn()
                answer = {"seconds": [timed(fn) for _ in range(request.get("k", 1))]}
            elif cmd == "info":
                answer = info(args.lib, module)
            elif cmd == "quit":
                answer = {}
            else:
                raise ValueError(f"unknown request {cmd!r}")
        except Exception:
            answer = {"error": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
        if request.get("cmd") == "quit":
            break


if __name__ == "__main__":
    main()
