"""The `gankit` command: a thin layer over the Python API (gankit.api)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gankit.errors import GankitError

MAIN_HELP = "gankit: train, sample and evaluate generative adversarial networks"


def add_train(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("train", help="train a model (see `gankit models`)")
    parser.add_argument("model", help="model preset, e.g. dcgan, wgan-gp, cgan")
    parser.add_argument(
        "--data",
        help="data spec kind[:location], e.g. fashion-mnist, "
        "mnist:/path, folder:/path (default: the preset's, fashion-mnist)",
    )
    parser.add_argument("--steps", type=int, help="generator steps in all")
    parser.add_argument("--epochs", type=float, help="passes over the data (instead of --steps)")
    parser.add_argument("--minutes", type=float, help="wall-clock budget; stops with a checkpoint")
    parser.add_argument("--batch-size", type=int, help="images per batch")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config value, e.g. train.lr=2e-4, model.z_dim=64",
    )
    parser.add_argument("--config", type=Path, help="a config.toml to start from")
    parser.add_argument("--out", help="run directory (default runs/<model>-<time>)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--resume", type=Path, metavar="RUN", help="continue the run in RUN")


def run_train(args: argparse.Namespace) -> None:
    import gankit
    from gankit import config as config_io

    overrides = list(args.set)
    for flag, key in (
        ("data", "data.spec"),
        ("steps", "train.steps"),
        ("epochs", "train.epochs"),
        ("batch_size", "train.batch_size"),
        ("seed", "seed"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}")
    if args.minutes is not None:
        overrides.append(f"train.max_seconds={args.minutes * 60.0}")
    if args.resume:
        config = gankit.resume_config(args.resume, overrides)
        if args.model != config.name:
            raise GankitError(f"{args.resume}: is a {config.name} run, not {args.model}")
    else:
        config = config_io.load(args.config) if args.config else gankit.preset(args.model)
        if args.config and config.name != args.model:
            raise GankitError(f"{args.config}: configures {config.name}, not {args.model}")
        config_io.apply_overrides(config, overrides)
        if args.out:
            config.out = args.out
    run_dir = gankit.train(config, resume=args.resume)
    print(f"run written to {run_dir} (report: {run_dir / 'report.html'})")


def add_sample(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("sample", help="draw samples from a trained run")
    parser.add_argument("run", type=Path, help="run directory")
    parser.add_argument("-n", type=int, help="number of samples (default 64, or 8 per label)")
    parser.add_argument(
        "--out",
        type=Path,
        help="samples.npz: arr_0 uint8 N x H x W x C, arr_1 labels (conditional models)",
    )
    parser.add_argument("--grid", type=Path, help="also write a PNG grid")
    parser.add_argument("--labels", help="comma-separated class labels (conditional models)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ema", action="store_true", help="use the raw generator weights")


def run_sample(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    import gankit
    from gankit.report import save_grid
    from gankit.train.checkpoint import write_atomic

    if not args.out and not args.grid:
        raise GankitError("sample: give --out samples.npz and/or --grid grid.png")
    model = gankit.load(args.run, ema=not args.no_ema)
    labels, per_row = None, 8
    if args.labels:
        try:
            wanted = [int(part) for part in args.labels.split(",") if part.strip()]
        except ValueError:
            raise GankitError(f"--labels {args.labels!r}: expected integers like 0,3,7") from None
        n = args.n or 8 * len(wanted)
        per_class = -(-n // len(wanted))  # ceil: one grid row per requested label
        labels = torch.tensor(wanted).repeat_interleave(per_class)[:n]
        per_row = per_class
    n = args.n or (len(labels) if labels is not None else 64)
    if n <= 0:
        raise GankitError(f"-n must be positive, got {n}")
    images, label_array = gankit.sample(model, n, labels=labels, seed=args.seed)
    if args.out:
        import io

        buffer = io.BytesIO()
        arrays = [images] + ([label_array] if label_array is not None else [])
        np.savez(buffer, *arrays)
        write_atomic(args.out, buffer.getvalue())
        print(f"wrote {n} samples to {args.out}")
    if args.grid:
        save_grid(torch.from_numpy(images).permute(0, 3, 1, 2), args.grid, nrow=per_row, scale=2)
        print(f"wrote grid to {args.grid}")


def add_models(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("models", help="list every model preset, its paper and its defaults")


def run_models(args: argparse.Namespace) -> None:
    import gankit

    for entry in gankit.list_models():
        model, train = entry["model"], entry["train"]
        print(f"{entry['name']:<14} {entry['summary']}")
        print(f"{'':<14} paper: {entry['paper']}")
        if entry["why"]:
            print(f"{'':<14} differs from the paper: {entry['why']}")
        keys = ("arch", "adversarial", "gp_weight", "clip", "d_norm", "conditioning")
        shown = ", ".join(
            f"{k}={model[k]}" for k in keys if k in model and model[k] not in (0, 0.0)
        )
        print(f"{'':<14} model: {shown}")
        print(
            f"{'':<14} train: optimizer={train['optimizer']} lr={train['lr']} "
            f"betas=({train['beta1']}, {train['beta2']}) d_steps={train['d_steps']} "
            f"batch={train['batch_size']} steps={train['steps']} ema={train['ema']} "
            f"precision={train['precision']}\n"
        )


def add_eval(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("eval", help="FID, KID, IS, precision/recall of generated images")
    parser.add_argument("source", help="a run directory, a samples.npz or an image folder")
    parser.add_argument("--metrics", default="fid,kid,is,pr", help="comma-separated")
    parser.add_argument("--n", type=int, default=10000, help="images to score")
    parser.add_argument("--ref", default="fashion-mnist:test", help="reference data spec")
    parser.add_argument("--feature-net", default="fashion", help="fashion | inception")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")


def run_eval(args: argparse.Namespace) -> None:
    import json

    from gankit.metrics.evaluate import evaluate, format_table
    from gankit.train.checkpoint import write_atomic

    if args.n <= 0:
        raise GankitError(f"--n must be positive, got {args.n}")
    results = evaluate(
        args.source,
        metrics=args.metrics.split(","),
        n=args.n,
        ref=args.ref,
        feature_net=args.feature_net,
        seed=args.seed,
    )
    print(format_table(results))
    if args.json:
        write_atomic(args.json, (json.dumps(results, indent=2) + "\n").encode())


def add_classifier(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "classifier", help="train a feature/classifier network (the one FID etc. use)"
    )
    parser.add_argument("--data", default="fashion-mnist", help="labelled data spec")
    parser.add_argument("--out", type=Path, required=True, help="output .safetensors")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)


def run_classifier(args: argparse.Namespace) -> None:
    import json

    from gankit.metrics.classifier import train_classifier

    command = (
        f"gankit classifier --data {args.data} --out {args.out} --steps {args.steps} "
        f"--seed {args.seed}"
    )
    _, summary = train_classifier(args.data, args.out, args.steps, args.seed, command=command)
    print(json.dumps(summary, indent=2))


COMMANDS = {
    "train": (add_train, run_train),
    "sample": (add_sample, run_sample),
    "eval": (add_eval, run_eval),
    "models": (add_models, run_models),
    "classifier": (add_classifier, run_classifier),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gankit", description=MAIN_HELP)
    commands = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one line and exit 2; Ctrl-C exits 130."""
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command][1](args)
    except GankitError as error:
        print(f"gankit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
