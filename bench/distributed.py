"""Training img/s with 1 and N processes under torchrun (gankit.train.distributed).

    python -m bench.distributed --preset dcgan --batch-size 64 --steps 400 --processes 1,2

Each configuration is a real `torchrun --nproc_per_node N -m gankit train` run; its img/s is
read from the run's metrics.jsonl over the logged steps after the first interval (warm-up), in
global images (the batch of all processes) per second; the runs are repeated, interleaved, and
the median is printed. With one process it also measures one
thread, so that "2 processes of 1 thread" can be told from "1 process of 2 threads". The result
goes to bench/results/<time>-<host>-distributed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

from bench.common import write_result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(preset: str, processes: int, threads: int, args: argparse.Namespace) -> dict:
    """One torchrun training run; its img/s after the warm-up interval."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1"]
        command += ["--nproc_per_node", str(processes), "--master_addr", "127.0.0.1"]
        command += ["--master_port", str(free_port()), "-m", "gankit", "train", preset]
        command += ["--steps", str(args.steps), "--batch-size", str(args.batch_size)]
        command += ["--out", str(out), "--data", args.data]
        for setting in (
            f"train.threads={threads}",
            f"train.log_every={args.log_every}",
            f"train.sample_every={10 * args.steps}",
            f"train.checkpoint_every={10 * args.steps}",
            "train.tensorboard=false",
            *args.set,
        ):
            command += ["--set", setting]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        subprocess.run(command, check=True, env=env, capture_output=True, text=True)
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        d_steps = tomllib.loads((out / "config.toml").read_text())["train"]["d_steps"]
    first, last = records[0], records[-1]  # the first interval holds the warm-up
    images = (last["step"] - first["step"]) * args.batch_size * d_steps
    rate = images / (last["time"] - first["time"])
    return {"processes": processes, "threads": threads, "img_per_s": round(rate, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.distributed")
    parser.add_argument("--preset", default="dcgan")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, interleaved")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    configurations = []
    for processes in (int(n) for n in args.processes.split(",")):
        threads = max(1, cores // processes)
        configurations.append((processes, threads))
        if processes == 1 and threads > 1:
            configurations.append((1, 1))
    rates: dict[tuple[int, int], list[float]] = {key: [] for key in configurations}
    for _ in range(args.repeats):  # interleaved, so that a slow spell of the machine hits all
        for processes, threads in configurations:
            rate = run(args.preset, processes, threads, args)["img_per_s"]
            rates[processes, threads].append(rate)
    results = []
    for (processes, threads), values in rates.items():
        median = statistics.median(values)
        print(
            f"{processes} process(es) x {threads} thread(s): {median:8.1f} img/s "
            f"(median of {len(values)}: {', '.join(f'{v:.0f}' for v in values)})"
        )
        results.append({"processes": processes, "threads": threads, "img_per_s": values})
    payload = {"preset": args.preset, "batch_size": args.batch_size, "steps": args.steps}
    path = write_result("distributed", {**payload, "settings": args.set, "results": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
