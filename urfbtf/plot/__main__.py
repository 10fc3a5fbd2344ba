"""`python -m urfbtf.plot KIND RUN_DIR ... [--out FILE.png]`: one figure of runs.

KIND is curves, wr, alignment or filters (`urfbtf.plot`); without --out the
figure goes to KIND.png in the first run directory. Prints the path it wrote.
A run directory that cannot be read ends with one line and status 1, a bad
argument with status 2, matplotlib missing with status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from urfbtf import plot
from urfbtf.errors import UrfbtfError, UsageError
from urfbtf.plot.filters import FILTERS, LOCATIONS, pairs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m urfbtf.plot", description=__doc__.splitlines()[0]
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    curves = kinds.add_parser("curves", help="train/validation/test error by epoch")
    wr = kinds.add_parser("wr", help="W-R correlation per layer by epoch")
    alignment = kinds.add_parser("alignment", help="the probes' angles by step")
    filters = kinds.add_parser("filters", help="an untied layer's filters")
    for kind in (curves, wr, alignment):
        kind.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    filters.add_argument("run_dirs", nargs=1, type=Path, metavar="RUN_DIR")
    for kind in (curves, wr, alignment, filters):
        kind.add_argument("--out", type=Path, help="default RUN_DIR/KIND.png")
    for kind in (curves, wr):
        kind.add_argument("--title", help="the figure's title")
    curves.add_argument("--max_error", type=float, default=1.0, help="error axis top")
    curves.add_argument("--wr", action="store_true", help="add the W-R panel")
    alignment.add_argument(
        "--smooth", type=float, default=0.0, help="moving-average momentum (0: none)"
    )
    alignment.add_argument("--labels", nargs="+", help="one per run, in order")
    alignment.add_argument("--ymax", type=float, default=120.0, help="degrees")
    filters.add_argument("--layer", help="an untied layer (default: the first)")
    filters.add_argument(
        "--filters", default=",".join(map(str, FILTERS)), help="e.g. 2,4"
    )
    filters.add_argument(
        "--locations",
        default=",".join(f"{r}:{c}" for r, c in LOCATIONS),
        help="row:col of the output map, comma separated",
    )
    return parser


def figure_of(args: argparse.Namespace):
    """The figure that the parsed command line asks for."""
    if args.kind == "curves":
        return plot.curves(
            args.run_dirs, wr=args.wr, title=args.title, max_error=args.max_error
        )
    if args.kind == "wr":
        return plot.wr(args.run_dirs, title=args.title)
    if args.kind == "alignment":
        return plot.alignment(
            args.run_dirs, smooth=args.smooth, ymax=args.ymax, labels=args.labels
        )
    try:
        chosen = [int(f) for f in args.filters.split(",")]
    except ValueError:
        raise UsageError(
            f"--filters={args.filters!r}: filter numbers, comma separated, e.g. 2,4."
        ) from None
    return plot.filters(
        args.run_dirs[0],
        layer=args.layer,
        filters=chosen,
        locations=pairs(args.locations),
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = args.out or args.run_dirs[0] / f"{args.kind}.png"
    try:
        figure = figure_of(args)
        plot.save(figure, out)
    except UrfbtfError as error:
        print(f"urfbtf.plot: error: {error}", file=sys.stderr)
        return error.exit_code
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
