"""The `spd-atlas` command line."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from dashboard.settings import Settings, SettingsError


def command_validate(args: argparse.Namespace) -> int:
    from dashboard.study import validate_study

    problems = validate_study(args.path, deep=not args.quick)
    if problems:
        print(f"{args.path}: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"{args.path}: valid study ({'manifest and formats' if args.quick else 'full check'})")
    return 0


def command_serve(args: argparse.Namespace) -> int:
    """Serve the app under gunicorn (the same command the containers run)."""
    settings = Settings.from_env()
    if importlib.util.find_spec("gunicorn") is None:
        print("gunicorn is not installed: pip install gunicorn", file=sys.stderr)
        return 1
    port = args.port or settings.port
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "app:server",
        "--bind",
        f"{args.host}:{port}",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--timeout",
        "120",
        "--access-logfile",
        "-",
    ]
    print(f"serving on http://{args.host}:{port} ({args.workers} worker(s))", flush=True)
    os.execv(sys.executable, argv)
    return 0  # not reached: execv replaces this process


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spd-atlas", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a study directory against the format")
    validate.add_argument("path", type=Path)
    validate.add_argument(
        "--quick", action="store_true", help="skip content hashes and value scans"
    )
    validate.set_defaults(run=command_validate)

    serve = commands.add_parser("serve", help="serve the dashboard under gunicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 8050")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--threads", type=int, default=4)
    serve.set_defaults(run=command_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SettingsError as error:
        print(f"spd-atlas: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
