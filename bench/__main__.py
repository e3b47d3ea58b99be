"""python -m bench speed | quality | quickdraw"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    commands = parser.add_subparsers(dest="command", required=True)
    speed = commands.add_parser("speed", help="training/sampling img/s, gankit vs plain loop")
    speed.add_argument("--presets", default="dcgan,lsgan,cgan,wgan,wgan-gp,gan")
    speed.add_argument("--batch-size", type=int, default=128)
    speed.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    speed.add_argument(
        "--repeats", type=int, default=1, help="interleaved measurements per preset (median)"
    )
    quality = commands.add_parser("quality", help="FID etc. at a fixed wall-clock budget")
    quality.add_argument("--presets", default="dcgan,wgan-gp,cgan")
    quality.add_argument(
        "--budget",
        type=float,
        default=600.0,
        help="seconds of training each (0: train.steps, see --set)",
    )
    quality.add_argument("--n", type=int, default=10000, help="samples for the metrics")
    quality.add_argument("--only", choices=("gankit", "reference", "both"), default="both")
    quality.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override gankit's config"
    )
    from bench.quickdraw import add_arguments as quickdraw_arguments

    quickdraw_arguments(commands.add_parser("quickdraw", help="Quick, Draw! memory, speed, grids"))
    args = parser.parse_args()
    if args.command == "quickdraw":
        from bench.quickdraw import main as run

        run(args)
    elif args.command == "speed":
        from bench.speed import main as run

        run(args.presets.split(","), args.batch_size, args.seconds, args.repeats)
    else:
        from bench.quality import main as run

        run(args.presets.split(","), args.budget, args.n, args.only, args.set)


if __name__ == "__main__":
    main()
