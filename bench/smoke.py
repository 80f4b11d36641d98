"""`--smoke`, shared by every benchmark: a quick run at tiny sizes that checks the code paths
and the JSON shape (CI), not the speed."""

from __future__ import annotations

import argparse


def parse_arguments(parser: argparse.ArgumentParser, smoke: dict) -> argparse.Namespace:
    """The arguments; with `--smoke`, `smoke`'s values replace the defaults (flags still win)."""
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a quick run at tiny sizes that checks the code paths, not the speed "
        f"(sets {', '.join(f'{key}={value}' for key, value in smoke.items())})",
    )
    args = parser.parse_args()
    if not args.smoke:
        return args
    return parser.parse_args(namespace=argparse.Namespace(**smoke))
