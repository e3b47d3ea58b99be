"""The `gankit` command: a thin layer over the Python API (gankit.api)."""

from __future__ import annotations

import argparse
import os
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
    parser.add_argument(
        "--batch-size",
        type=int,
        help="images per step in all: under torchrun the global batch, split evenly across the "
        "processes",
    )
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
    parser.add_argument(
        "--direction", choices=("AtoB", "BtoA"), help="image-to-image: which side is the input"
    )
    parser.add_argument("--categories", help="classes to use, comma-separated (quickdraw)")
    parser.add_argument(
        "--attrs", help="attributes to use, comma-separated (celeba; default: the paper's five)"
    )
    parser.add_argument("--skip-bad", action="store_true", help="skip malformed data records")
    parser.add_argument("--style", help="style-transfer: the style image (model.style)")
    parser.add_argument(
        "--init-from", metavar="RUN", help="srgan: start the generator from this srresnet run"
    )


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
        ("categories", "data.categories"),
        ("attrs", "data.attrs"),
        ("direction", "model.direction"),
        ("style", "model.style"),
        ("init_from", "model.init_from"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}")
    if args.skip_bad:
        overrides.append("data.skip_bad=true")
    if args.minutes is not None:
        overrides.append(f"train.max_seconds={args.minutes * 60.0}")
        if args.steps is None and args.epochs is None:  # the budget alone decides the length
            overrides.append("train.steps=1000000000")
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
    if os.environ.get("RANK", "0") == "0":  # under torchrun, process 0 speaks for the run
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
    parser.add_argument(
        "--truncation", type=float, metavar="PSI", help="stylegan: truncation psi in [0, 1]"
    )


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
    images, label_array = gankit.sample(
        model, n, labels=labels, seed=args.seed, truncation=args.truncation
    )
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
        keys += ("class_weight", "latent_classes", "clusters")
        keys += ("norm", "gan_weight", "l1_weight", "cycle_weight", "pool_size")  # image-to-image
        keys += ("width", "w_dim", "max_width", "minibatch_std", "r1_gamma", "pl_weight", "mixing")
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
    parser.add_argument(
        "--ref",
        help="reference data spec (default fashion-mnist:test; an image-to-image run: its own "
        "held-out data)",
    )
    parser.add_argument("--feature-net", default="fashion", help="fashion | inception")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    parser.add_argument(
        "--grid", type=Path, help="image-to-image runs: a PNG of input | output | target"
    )


def run_eval(args: argparse.Namespace) -> None:
    import json

    from gankit.metrics.evaluate import evaluate, format_table
    from gankit.train.checkpoint import write_atomic

    if args.n <= 0:
        raise GankitError(f"--n must be positive, got {args.n}")
    from gankit.metrics.superres import is_sr_run

    super_resolution = is_sr_run(args.source)
    if args.grid and not super_resolution:
        from gankit.metrics.translation import is_translation_run, save_run_grid

        if not is_translation_run(args.source):
            raise GankitError(f"--grid: {args.source} is not the run of an image-to-image model")
        from gankit.metrics.attributes import is_attribute_run

        if is_attribute_run(args.source):
            raise GankitError("--grid: for a StarGAN run, `gankit translate <run> --grid <png>`")
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
    if args.grid and super_resolution:  # LR | bicubic | output | HR
        from gankit.metrics.superres import save_sr_grid

        print(f"wrote grid to {save_sr_grid([args.source], args.grid, args.ref)}")
    elif args.grid:
        print(f"wrote grid to {save_run_grid(args.source, args.grid, args.ref)}")


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


def add_data(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("data", help="look at a dataset")
    actions = parser.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="a PNG grid of a dataset: one row per class")
    show.add_argument("spec", help="data spec, e.g. quickdraw:/path/to/files, mnist:/path")
    show.add_argument("--grid", type=Path, required=True, help="output PNG")
    show.add_argument("-n", type=int, default=8, help="images per class (default 8)")
    show.add_argument("--size", type=int, help="image size (quickdraw renders at it; default 28)")
    show.add_argument("--categories", help="classes to show, comma-separated (quickdraw)")
    show.add_argument("--recognized", default="any", choices=("any", "yes", "no"))
    show.add_argument("--countries", default="", help="country codes to keep, e.g. US,DE")
    show.add_argument("--skip-bad", action="store_true", help="skip malformed records")
    make = actions.add_parser("make", help="write an offline image-to-image demo task to disk")
    make.add_argument(
        "task",
        help="edges2fashion | sneakers2sandals | shirts2tshirts | fashion-attrs | fashion-sr | "
        "natural-sr",
    )
    make.add_argument("root", type=Path, help="folder to create (must not exist or be empty)")
    make.add_argument("--train", type=int, help="training images (per class for class tasks)")
    make.add_argument("--test", type=int, help="held-out images (per class for class tasks)")
    make.add_argument("--source", default="fashion-mnist", help="the Fashion-MNIST data spec")


def run_data(args: argparse.Namespace) -> None:
    if args.action == "make":
        return run_data_make(args)
    from gankit.api import show_data
    from gankit.config import DataConfig

    data = DataConfig(
        spec=args.spec,
        categories=[c for c in (args.categories or "").split(",") if c.strip()],
        recognized=args.recognized,
        countries=[c for c in args.countries.split(",") if c.strip()],
        skip_bad=args.skip_bad,
    )
    path = show_data(data, args.grid, per_class=args.n, image_size=args.size)
    print(f"wrote grid to {path}")


def run_data_make(args: argparse.Namespace) -> None:
    from gankit.data.tasks import TASKS, make_task

    root = make_task(args.task, args.root, train=args.train, test=args.test, source=args.source)
    print(f"wrote {args.task} to {root} (train with --data {TASKS.get(args.task).kind}:{root})")


def add_translate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "translate", help="translate images with a pix2pix, CycleGAN or StarGAN run"
    )
    parser.add_argument("run", type=Path, help="run directory")
    parser.add_argument("--input", type=Path, required=True, help="an image or a folder of them")
    parser.add_argument("--out", type=Path, help="output folder (same names)")
    parser.add_argument(
        "--attrs", help="StarGAN: attributes to set (+) or clear (-), e.g. +Blond_Hair,-Male"
    )
    parser.add_argument(
        "--attr-file",
        help="StarGAN: list_attr_celeba.txt giving the inputs' own labels (default: D_cls's)",
    )
    parser.add_argument(
        "--grid", type=Path, help="StarGAN: a PNG of each input and every attribute changed alone"
    )
    parser.add_argument(
        "--direction", choices=("AtoB", "BtoA"), help="CycleGAN: either (default: the run's)"
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")


def run_translate(args: argparse.Namespace) -> None:
    from gankit.translation import translate_files, translate_grid

    if not args.out and not args.grid:
        raise GankitError("translate: give --out <folder> (and/or --grid <png> for StarGAN)")
    if args.grid and not args.out and args.attrs:
        raise GankitError("--attrs: the grid changes every attribute; give --out for --attrs")
    options = {"attr_file": args.attr_file}
    if args.out:
        written = translate_files(
            args.run, args.input, args.out, args.direction, args.device, attrs=args.attrs, **options
        )
        print(f"wrote {len(written)} image{'s' * (len(written) != 1)} to {args.out}")
    if args.grid:
        path, names = translate_grid(args.run, args.input, args.grid, args.device, **options)
        print(f"wrote grid to {path} (columns: {', '.join(names)})")


def add_image_files(parser: argparse.ArgumentParser, model: str) -> None:
    """The run, --input, --out and --device options of commands that map image files."""
    parser.add_argument("run", type=Path, help=f"run directory of {model} model")
    parser.add_argument("--input", type=Path, required=True, help="an image or a folder of them")
    parser.add_argument("--out", type=Path, required=True, help="output folder (same names)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")


def add_stylize(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("stylize", help="stylize images with a style-transfer run")
    add_image_files(parser, "a style-transfer")
    parser.add_argument("--tile", type=int, default=512, help="tile side in pixels")
    parser.add_argument("--overlap", type=int, default=64, help="context around each tile")


def run_stylize(args: argparse.Namespace) -> None:
    from gankit.models.style_transfer import stylize_files

    written = stylize_files(args.run, args.input, args.out, args.device, args.tile, args.overlap)
    print(f"wrote {len(written)} image{'s' * (len(written) != 1)} to {args.out}")


def add_upscale(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("upscale", help="super-resolve images with an srresnet/srgan run")
    add_image_files(parser, "an srresnet or srgan")
    parser.add_argument("--scale", type=int, help="refuse a run trained for another scale")
    parser.add_argument("--tile", type=int, default=128, help="tile side in input pixels")
    parser.add_argument("--overlap", type=int, default=48, help="context around each tile")


def run_upscale(args: argparse.Namespace) -> None:
    from gankit.upscale import upscale_files

    written = upscale_files(
        args.run, args.input, args.out, args.scale, args.device, args.tile, args.overlap
    )
    print(f"wrote {len(written)} image{'s' * (len(written) != 1)} to {args.out}")


def add_style_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `interpolate` and `mix` (stylegan runs)."""
    parser.add_argument("run", type=Path, help="run directory of a stylegan model")
    parser.add_argument("--out", type=Path, required=True, help="output PNG")
    parser.add_argument("--truncation", type=float, default=1.0, metavar="PSI")
    parser.add_argument("--noise", default="const", help="noise inputs: const | random")
    parser.add_argument("--no-ema", action="store_true", help="use the raw generator weights")


def add_interpolate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("interpolate", help="stylegan: a strip (and GIF) between seeds")
    add_style_options(parser)
    parser.add_argument("--seeds", required=True, help="comma-separated seeds, e.g. 1,2,3")
    parser.add_argument("--steps", type=int, default=8, help="frames from one seed to the next")
    parser.add_argument("--space", default="w", help="w (linear) | z (spherical)")
    parser.add_argument("--gif", type=Path, help="the GIF (default: --out with .gif)")


def run_interpolate(args: argparse.Namespace) -> None:
    import gankit
    from gankit import stylegan_tools as tools
    from gankit.report import save_grid

    seeds = tools.parse_seeds(args.seeds, "--seeds")
    model = gankit.load(args.run, ema=not args.no_ema)
    tools.check_style_model(model)
    model.set_truncation(args.truncation)
    frames = tools.interpolate(model, seeds, args.steps, args.space, args.noise)
    save_grid(frames, args.out, nrow=len(frames), scale=2)
    gif = tools.write_gif(frames, args.gif or args.out.with_suffix(".gif"))
    print(f"wrote {len(frames)} frames to {args.out} and {gif}")


def add_mix(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("mix", help="stylegan: a style-mixing grid (coarse/middle/fine)")
    add_style_options(parser)
    parser.add_argument("--rows", required=True, help="seeds giving styles (source B), e.g. 1,2")
    parser.add_argument("--cols", required=True, help="seeds taking them (source A), e.g. 4,5")


def run_mix(args: argparse.Namespace) -> None:
    import gankit
    from gankit import stylegan_tools as tools
    from gankit.report import save_grid

    rows, cols = tools.parse_seeds(args.rows, "--rows"), tools.parse_seeds(args.cols, "--cols")
    model = gankit.load(args.run, ema=not args.no_ema)
    tools.check_style_model(model)
    model.set_truncation(args.truncation)
    images, per_row = tools.mix(model, rows, cols, args.noise)
    save_grid(images, args.out, nrow=per_row, scale=2)
    print(f"wrote the style-mixing grid to {args.out}")


COMMANDS = {
    "train": (add_train, run_train),
    "data": (add_data, run_data),
    "sample": (add_sample, run_sample),
    "eval": (add_eval, run_eval),
    "translate": (add_translate, run_translate),
    "stylize": (add_stylize, run_stylize),
    "upscale": (add_upscale, run_upscale),
    "models": (add_models, run_models),
    "classifier": (add_classifier, run_classifier),
    "interpolate": (add_interpolate, run_interpolate),
    "mix": (add_mix, run_mix),
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
    command = COMMANDS[args.command][1]
    if os.environ.get("TORCHELASTIC_ERROR_FILE"):  # under torchrun: its failure summary names
        from torch.distributed.elastic.multiprocessing.errors import record  # the first error

        command = record(command)
    try:
        command(args)
    except GankitError as error:
        print(f"gankit: error{_process()}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130
    return 0


def _process() -> str:
    """' (process R of W)' under torchrun, so that the failing process names itself."""
    world = os.environ.get("WORLD_SIZE", "1")
    return "" if world in ("", "1") else f" (process {os.environ.get('RANK', '?')} of {world})"


if __name__ == "__main__":
    sys.exit(main())
