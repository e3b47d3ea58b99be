"""Multi-process training (gankit.train.distributed): 2 processes on this machine, gloo, torchrun.

The multi-process tests start ``python -m torch.distributed.run`` on this very file: run as a
script, it is what each process executes (`main` at the bottom), a gankit run with a tiny config.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import gankit
from gankit.errors import GankitError
from gankit.train.checkpoint import load_checkpoint
from gankit.train.distributed import (
    Distributed,
    process_device,
    rank_seed,
    without_sync_batchnorm,
)
from gankit.train.draws import RunStream, SlicedDraws

# 1 and 2 processes train the same weights up to float rounding (the mean of two half-batch
# gradients is not bit for bit the full batch's). Measured after 6 steps of the config below:
# weights within 2e-7, Adam's moments (values up to ~20) within 1e-6 of their size.
TOLERANCE = 1e-5  # on |difference| / max(1, |value|), over weights, EMA and optimizer states
TIMEOUT = 240  # seconds for one torchrun launch: a hang fails the test instead of the suite


def tiny_config(data: str, out: Path | str, steps: int) -> gankit.RunConfig:
    """WGAN-GP on the DCGAN nets without batch norm (so that 1 and 2 processes compute the same):
    2 critic steps, the penalty as a lazy phase every 2 steps (double backward), EMA, fp32."""
    config = gankit.preset("wgan-gp")
    model, train = config.model, config.train
    model.z_dim, model.width, model.image_size = 8, 8, 16
    model.g_norm, model.d_norm, model.gp_every = "none", "layer", 2
    train.steps, train.batch_size, train.d_steps, train.precision = steps, 32, 2, "fp32"
    train.checkpoint_every, train.sample_every, train.log_every = 3, 3, 2
    train.threads, train.compile, train.dist_timeout = 1, False, 60.0
    train.lr_decay_start = 1.0  # a decay follows the total, which the resume tests change
    config.data.spec, config.out = data, str(out)
    return config


# --- one process: the pieces --------------------------------------------------------------


def draws(rows: int) -> list[torch.Tensor]:
    """What a phase draws: noise, a penalty's mixing weights, codes, a *_like, a non-batch draw."""
    x = torch.zeros(rows, 2)
    return [
        torch.randn(rows, 3),
        torch.rand((rows, 1, 1, 1)),
        torch.randint(0, 10, (rows,)),
        torch.randn_like(x),
        torch.randint(5, size=(rows, 2)),
    ]


def test_each_process_draws_its_rows_of_the_global_batch_draw():
    torch.manual_seed(7)
    single = draws(8)  # one process, global batch 8
    parts = []
    for rank in range(2):
        torch.manual_seed(7)
        stream = RunStream(torch.device("cpu"), private=True)
        torch.manual_seed(1000 + rank)  # the per-process generator must not matter
        with SlicedDraws(stream, rows=4, rank=rank, world=2):
            parts.append(draws(4))
    for index, whole in enumerate(single):
        assert torch.equal(torch.cat([parts[0][index], parts[1][index]]), whole), index


def test_draws_not_shaped_by_the_batch_come_from_the_process_generator():
    stream = RunStream(torch.device("cpu"), private=True)
    torch.manual_seed(3)
    expected = torch.randn(5, 4), torch.rand(4, 2, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(3)
    with SlicedDraws(stream, rows=4, rank=1, world=2):
        got = torch.randn(5, 4), torch.rand(4, 2, generator=torch.Generator().manual_seed(1))
        grad = torch.randn(4, 3, requires_grad=True)
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))
    assert grad.shape == (4, 3) and grad.requires_grad and grad.is_leaf


def test_shards_of_the_batcher_make_the_global_batch_and_resume_across_sizes(tiny_mnist):
    from gankit.data import Batcher, load_data

    dataset = load_data(tiny_mnist)
    dataset.labels = torch.arange(len(dataset))  # tag each image with its index
    single = Batcher(dataset, 64, seed=5)
    halves = [Batcher(dataset, 32, seed=5, shard=rank, num_shards=2) for rank in range(2)]
    assert single.batches_per_epoch == halves[0].batches_per_epoch == 4
    for _ in range(6):  # into the second epoch
        joined = torch.cat([half.next()["label"] for half in halves])
        assert torch.equal(joined, single.next()["label"])
    resumed = Batcher(dataset, 64, seed=5)
    resumed.load_state_dict(halves[1].state_dict())  # 2 processes -> 1
    assert torch.equal(resumed.next()["label"], single.next()["label"])
    with pytest.raises(ValueError, match="batch size 384 exceeds the 256 images"):
        Batcher(dataset, 128, shard=1, num_shards=3)


def test_one_process_is_a_normal_run():
    process = Distributed()
    parameter = nn.Parameter(torch.ones(3))
    parameter.grad = torch.full((3,), 2.0)
    process.average_gradients([parameter])
    assert torch.equal(parameter.grad, torch.full((3,), 2.0))
    assert process.agree(1.5, True) == (1.5, True)
    assert process.local_batch(33) == 33 and process.is_main and process.shard() is None
    assert process.from_main(lambda: "x") == "x"
    with pytest.raises(GankitError, match="one"):
        process.from_main(lambda: (_ for _ in ()).throw(GankitError("one")))
    assert process.batch_draws({"image": torch.zeros(2)}).__class__.__name__ == "nullcontext"


def test_bad_distributed_settings_are_refused_in_one_line():
    with pytest.raises(GankitError, match="must be divisible by the 2 processes"):
        Distributed(world_size=2).local_batch(33)
    with pytest.raises(GankitError, match="cuda:1.*cuda:LOCAL_RANK"):
        process_device("cuda:1", 0)
    assert process_device("cpu", 3) == torch.device("cpu")
    assert len({rank_seed(0, rank, step) for rank in range(3) for step in range(50)}) == 150


def test_sampling_copy_of_a_sync_batchnorm_network_is_a_plain_one():
    network = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    network[1].running_mean.fill_(0.5)
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(network))
    local = without_sync_batchnorm(synced)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in local.modules())
    assert any(isinstance(m, nn.SyncBatchNorm) for m in synced.modules())  # untouched
    assert torch.equal(local[1].running_mean, torch.full((4,), 0.5))
    x = torch.randn(2, 1, 3, 3)
    assert torch.allclose(local.eval()(x), network.eval()(x))
    assert without_sync_batchnorm(network) is network


def test_sync_batchnorm_is_refused_on_cpu(monkeypatch):
    from gankit.train.distributed import from_environment

    monkeypatch.setenv("WORLD_SIZE", "2")
    config = gankit.preset("dcgan")
    config.train.sync_batchnorm, config.train.device = True, "cpu"
    with pytest.raises(GankitError, match="sync_batchnorm needs CUDA"):
        from_environment(config.train)


# --- several processes (torchrun) -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(processes: int, *args: str) -> subprocess.CompletedProcess:
    """`processes` copies of this file's `main` (or of ``-m gankit`` when args start with -m)."""
    target = list(args) if args[0] == "-m" else [__file__, *args]
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1"]
    command += ["--nproc_per_node", str(processes), "--master_addr", "127.0.0.1"]
    command += ["--master_port", str(free_port()), "--monitor_interval", "0.2", *target]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
        "PYTHONFAULTHANDLER": "1",
    }
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)


def checked(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
    return result


def max_difference(a: Path, b: Path) -> float:
    """The largest |difference| / max(1, |value|) of the weights, EMA and optimizer states."""
    tensors_a, state_a = load_checkpoint(a / "checkpoints" / "last.safetensors")
    tensors_b, state_b = load_checkpoint(b / "checkpoints" / "last.safetensors")
    assert state_a["step"] == state_b["step"] and state_a["data"] == state_b["data"]
    assert set(tensors_a) == set(tensors_b)
    floats = [key for key in tensors_a if tensors_a[key].is_floating_point()]
    return max(
        ((tensors_a[k] - tensors_b[k]).abs().max() / tensors_a[k].abs().max().clamp(min=1)).item()
        for k in floats
    )


def run_files(run_dir: Path) -> list[str]:
    """The files of a run, TensorBoard's (named by time, host and process) as "events"."""
    names = [str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()]
    return sorted("events" if name.startswith("events.") else name for name in names)


def losses(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_train_what_one_does_and_resume_to_one(tiny_mnist, tmp_path):
    one = gankit.train(tiny_config(tiny_mnist, tmp_path / "one", 6))
    checked(torchrun(2, tiny_mnist, str(tmp_path / "two"), "6"))
    two = tmp_path / "two"
    difference = max_difference(one, two)
    print(f"max |1-process - 2-process| after 6 steps: {difference:.3g}")
    assert difference < TOLERANCE
    # Written once, by process 0: the same files, the same log lines, the same losses.
    assert run_files(one) == run_files(two)
    log_one, log_two = losses(one), losses(two)
    assert [r["step"] for r in log_one] == [r["step"] for r in log_two] == [2, 4, 6]
    for a, b in zip(log_one, log_two, strict=True):
        assert a.keys() == b.keys()
        assert all(abs(a[k] - b[k]) < 1e-4 for k in a if k.startswith(("loss", "gp", "d_")))
    # 2 processes -> 1: resume the 2-process run alone, compare with one process throughout.
    straight = gankit.train(tiny_config(tiny_mnist, tmp_path / "straight", 10))
    resumed = gankit.train(gankit.resume_config(two, ["train.steps=10"]), resume=two)
    assert max_difference(straight, resumed) < TOLERANCE


def test_one_process_run_resumes_with_two(tiny_mnist, tmp_path):
    first = gankit.train(tiny_config(tiny_mnist, tmp_path / "first", 4))
    straight = gankit.train(tiny_config(tiny_mnist, tmp_path / "straight", 8))
    checked(torchrun(2, tiny_mnist, str(first), "8", "--resume"))
    assert max_difference(straight, first) < TOLERANCE
    assert [r["step"] for r in losses(first)] == [2, 4, 6, 8]


def test_a_failing_process_ends_the_run_with_its_message(tiny_mnist, tmp_path):
    # Process 1 fails before step 6: process 0 got past the checkpoint of step 3 (the steps'
    # all-reduces wait for it), and waits in vain in the next all-reduce until torchrun ends it.
    started = time.monotonic()
    result = torchrun(2, tiny_mnist, str(tmp_path / "fails"), "50", "--fail-at", "5")
    assert time.monotonic() - started < 60  # ended by torchrun, not by the 60-s timeout
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "process 1 fails on purpose at step 5" in output
    assert "ChildFailedError" in output or "FAILED" in output  # torchrun's summary
    _, state = load_checkpoint(tmp_path / "fails" / "checkpoints" / "last.safetensors")
    assert state["step"] == 3  # the last checkpoint stays whole


def test_a_time_budget_stops_every_process_at_the_same_step(tiny_mnist, tmp_path):
    # A process that stopped alone would leave the other waiting in an all-reduce (and time out).
    checked(torchrun(2, tiny_mnist, str(tmp_path / "budget"), "100000", "--seconds", "1.5"))
    _, state = load_checkpoint(tmp_path / "budget" / "checkpoints" / "last.safetensors")
    assert 0 < state["step"] < 100000 and state["elapsed"] >= 1.5


def test_the_command_line_under_torchrun(tiny_mnist, tmp_path):
    bad = torchrun(2, "-m", "gankit", "train", "gan", "--data", tiny_mnist, "--batch-size", "33")
    assert bad.returncode != 0
    assert "gankit: error (process 0 of 2): train.batch_size 33 is the global batch" in bad.stderr
    out = tmp_path / "cli"
    args = ["-m", "gankit", "train", "gan", "--data", tiny_mnist, "--steps", "3", "--out", str(out)]
    args += ["--batch-size", "16", "--set", "train.threads=1", "--set", "model.width=4"]
    args += ["--set", "train.eval_every=3", "--set", "train.eval_n=64"]
    result = checked(torchrun(2, *args, "--set", "train.eval_metrics=['kid']"))
    assert result.stdout.count("run written to") == 1  # said once, by process 0
    log = losses(out)
    assert log[-1]["step"] == 3 and log[-1]["n"] == 64  # KID of both processes' 32 samples
    assert (out / "report.html").is_file() and (out / "samples" / "step-000003.png").is_file()


# --- what each torchrun process runs ----------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("out", type=Path)
    parser.add_argument("steps", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--fail-at", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=0.0)
    args = parser.parse_args()
    if args.fail_at:
        from gankit.train.trainer import Trainer

        step = Trainer.train_step

        def failing(trainer: Trainer) -> dict:
            if trainer.dist.rank == 1 and trainer.step == args.fail_at:
                raise RuntimeError(f"process 1 fails on purpose at step {args.fail_at}")
            return step(trainer)

        Trainer.train_step = failing
    if args.resume:
        gankit.train(gankit.resume_config(args.out, [f"train.steps={args.steps}"]), args.out)
    else:
        config = tiny_config(args.data, args.out, args.steps)
        config.train.max_seconds = args.seconds
        gankit.train(config)


if __name__ == "__main__":
    main()
