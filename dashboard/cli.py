"""The `spd-atlas` command line.

Over 400 lines by choice: one function per command beside the argument parser that names them
all, so the module reads as the command line's table of contents; each function only parses
and hands over to the package that does the work (importing it there, so that a command loads
only what it needs).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from dashboard.decomposition.config import ModulePattern
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
        "--config",
        "python:dashboard.gunicorn_hooks",
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
        "--access-logformat",  # one line per request, with its time
        ACCESS_LOG_FORMAT,
    ]
    print(f"serving on http://{args.host}:{port} ({args.workers} worker(s))", flush=True)
    os.execv(sys.executable, argv)
    return 0  # not reached: execv replaces this process


ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(B)s bytes %(M)s ms pid %(p)s'

WORKER_APPS = {
    "gpu": "dashboard.inference.worker:celery_app",  # inference operations, one model
    "web": "app:celery",  # Dash background callbacks of the scaled mode
    "harvest": "dashboard.pipeline.harvest_worker:celery_app",  # `build --workers celery`
}


def command_worker(args: argparse.Namespace) -> int:
    """A Celery worker on Redis: `gpu` holds the model; `web` runs the pages' background jobs;
    `harvest` computes harvest shards (several may run on one host: each has its own name)."""
    from dashboard.inference.service import QUEUE as INFERENCE_QUEUE
    from dashboard.runtime import WEB_QUEUE

    settings = Settings.from_env()
    if settings.redis_url is None:
        print("a worker needs REDIS_URL (the scaled mode)", file=sys.stderr)
        return 2
    if args.threads is not None:  # read by the worker's settings, in the child process
        os.environ["ATLAS_TORCH_THREADS"] = str(args.threads)
    queue = {"gpu": INFERENCE_QUEUE, "web": WEB_QUEUE}.get(args.queue, args.queue)
    node = f"atlas-{args.queue}-{os.getpid()}" if args.queue == "harvest" else f"atlas-{args.queue}"
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        WORKER_APPS[args.queue],
        "worker",
        "-Q",
        queue,
        "-P",
        "solo",
        "--concurrency",
        "1",
        "--loglevel",
        "INFO",
        "-n",
        f"{node}@%h",
    ]
    print(f"worker for queue {queue!r} on {settings.redis_url}", flush=True)
    return supervise(argv)


def supervise(argv: list[str]) -> int:
    """Run `argv`, again each time it stops itself for a job past its time limit; signals to
    stop are passed on to it."""
    import signal
    import subprocess

    from dashboard.inference.resident import LIMIT_EXIT_CODE

    children: list[subprocess.Popen] = []
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda number, _frame: children[-1].send_signal(number))
    while True:
        children.append(subprocess.Popen(argv))
        code = children[-1].wait()
        if code != LIMIT_EXIT_CODE:
            return code
        print("the worker stopped a job past its time limit: starting a fresh one", flush=True)


def command_decompose(args: argparse.Namespace) -> int:
    import dataclasses

    from dashboard.decomposition.presets import PRESETS
    from dashboard.decomposition.train import decompose
    from dashboard.models.loading import resolve_device

    settings = Settings.from_env()
    config = PRESETS[args.preset]
    if args.model:
        config = dataclasses.replace(config, target=args.model)
    if args.module:
        config = dataclasses.replace(config, modules=tuple(args.module))
    if args.steps is not None:
        config = dataclasses.replace(
            config, train=dataclasses.replace(config.train, steps=args.steps)
        )
    out = args.out or settings.data_dir / "decompositions" / args.preset
    device = resolve_device(args.device or settings.device)
    report = decompose(config, out, settings.data_dir, device, force=args.force)
    print_report(out, report)
    return 0


def parse_module_option(text: str) -> ModulePattern:
    """`PATTERN=C`, e.g. `model.layers.*.mlp.*_proj=256`."""
    pattern, _, size = text.rpartition("=")
    if not pattern or not size.isdigit() or int(size) < 1:
        raise argparse.ArgumentTypeError(f"--module {text!r}: expected PATTERN=C with C >= 1")
    return ModulePattern(pattern, int(size))


def command_import_spd(args: argparse.Namespace) -> int:
    from dashboard.decomposition.spd_import import import_spd_run

    settings = Settings.from_env()
    report = import_spd_run(
        args.run_dir,
        args.target,
        args.out,
        settings.data_dir,
        tokenizer_dir=args.tokenizer,
        step=args.step,
        force=args.force,
    )
    print_report(args.out, report)
    return 0


def command_build(args: argparse.Namespace) -> int:
    import dataclasses

    from dashboard.models.loading import resolve_device
    from dashboard.pipeline.build import build_study
    from dashboard.pipeline.harvest import HarvestStoppedError
    from dashboard.pipeline.presets import BUILD_PRESETS

    settings = Settings.from_env()
    name = args.name or args.preset
    out = args.out or settings.data_dir / name
    if out.exists() and not (out / "study.json").exists():
        print(f"spd-atlas build: {out} exists and is not a study", file=sys.stderr)
        return 2
    preset = BUILD_PRESETS[args.preset]
    if args.shard_batches is not None:
        if args.shard_batches < 1:
            print("spd-atlas build: --shard-batches must be at least 1", file=sys.stderr)
            return 2
        preset = dataclasses.replace(preset, shard_batches=args.shard_batches)
    if args.workers == "celery" and settings.redis_url is None:
        print(
            "spd-atlas build: --workers celery needs REDIS_URL, the Redis that "
            "`spd-atlas worker --queue harvest` serves",
            file=sys.stderr,
        )
        return 2
    try:
        path = build_study(
            name,
            preset,
            settings.data_dir,
            out,
            resolve_device(args.device or settings.device),
            force=args.force,
            decomposition_dir=args.decomposition,
            workers=args.workers,
            settings=settings,
        )
    except HarvestStoppedError as error:
        print(f"spd-atlas build: {error}", file=sys.stderr)
        return 1
    print(f"study {name} at {path}")
    if args.science_doc:
        write_science_report(path, args.science_doc, settings)
    return 0


def write_science_report(study_path: Path, out: Path, settings: Settings) -> None:
    """The study's science report (`dashboard/analysis/science.py`) at its default iteration,
    with the explanation scores the store holds (none when the store is away), into `out`."""
    from dashboard.analysis.science import science_report
    from dashboard.atomic import write_atomically
    from dashboard.stores.database import Database, StoreError
    from dashboard.stores.explanations import ExplanationStore
    from dashboard.study import Study

    study = Study(study_path)
    iteration = study.default_iteration
    try:
        scores = ExplanationStore(Database(settings.store_url)).newest_scores(study.name, iteration)
    except StoreError as error:
        print(f"science report without explanation scores: {error}", file=sys.stderr)
        scores = None
    report = science_report(study, iteration, scores)
    write_atomically(out, lambda draft: draft.write_text(report))
    print(f"wrote {out}")


def command_science(args: argparse.Namespace) -> int:
    """Write a study's science report: its reliability measures, their nulls and distributions."""
    from dashboard.study.locate import configured_study_path

    settings = Settings.from_env()
    study_path = configured_study_path(settings.data_dir, str(args.study))
    write_science_report(study_path, args.out, settings)
    return 0


def command_import_clustering(args: argparse.Namespace) -> int:
    from dashboard.pipeline.clustering_import import replace_clustering
    from dashboard.study.locate import configured_study_path

    settings = Settings.from_env()
    study = configured_study_path(settings.data_dir, str(args.study))
    merges, default = replace_clustering(study, args.path, args.ensemble_run, args.iteration)
    print(f"{study}: imported {merges} merges from {args.path}; default iteration {default}")
    return 0


def command_github_sync(args: argparse.Namespace) -> int:
    """Store the issues that discuss clusters, and their comments, updated since the last sync."""
    from tqdm import tqdm

    from dashboard.stores.database import Database, StoreError
    from dashboard.stores.github import GitHubClient, GitHubError, GitHubStore, sync

    settings = Settings.from_env()
    if settings.github_repo is None:
        print(
            "spd-atlas github-sync: set ATLAS_GITHUB_REPO=owner/name, the repository where "
            "clusters are discussed",
            file=sys.stderr,
        )
        return 2
    client = GitHubClient(settings.github_api, settings.github_repo, settings.github_token)
    try:
        store = GitHubStore(Database(settings.store_url))
        with tqdm(desc=settings.github_repo, unit=" issues", disable=None) as bar:
            report = sync(
                client, store, full=args.full, progress=lambda done: bar.update(done - bar.n)
            )
    except (GitHubError, StoreError) as error:
        print(f"spd-atlas github-sync: {error}", file=sys.stderr)
        return 1
    print(
        f"{settings.github_repo}: {report.issues_seen} issue(s) updated since "
        f"{report.since or 'the beginning'}; stored {report.issues_stored} discussion(s) "
        f"with {report.comments_stored} comment(s)"
    )
    return 0


def explanation_store_here():
    from dashboard.stores.database import Database
    from dashboard.stores.explanations import ExplanationStore

    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ExplanationStore(Database(settings.store_url))


def command_explanations_export(args: argparse.Namespace) -> int:
    import json

    from dashboard.atomic import write_atomically

    records = explanation_store_here().export(args.study)
    text = json.dumps(records, indent=1, ensure_ascii=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    write_atomically(args.out, lambda draft: draft.write_text(text, encoding="utf-8"))
    print(f"wrote {len(records)} explanation(s) to {args.out}", file=sys.stderr)
    return 0


def command_explanations_import(args: argparse.Namespace) -> int:
    """Check every record, then store all of them in one transaction (a bad file stores none)."""
    import json

    try:
        records = json.loads(args.file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{args.file}: not JSON ({error})") from None
    count = explanation_store_here().import_records(records)
    print(f"imported {count} explanation(s) from {args.file}")
    return 0


def command_explanations_relabel(args: argparse.Namespace) -> int:
    """Move a study's explanations from the cluster ids used before stable ids (a cluster named
    by its surviving group) to the stable ones; safe to run again."""
    from dashboard.study import Study
    from dashboard.study.clusters import earlier_ids_at
    from dashboard.study.locate import configured_study_path

    settings = Settings.from_env()
    study = Study(configured_study_path(settings.data_dir, str(args.study)))
    merges = study.table("clustering/merges.parquet", columns=["group_a", "group_b"])
    initial = study.array("clustering/initial_groups.npy")
    store = explanation_store_here()
    moved = 0
    for iteration in store.iterations_of(study.name):
        if 0 <= iteration <= study.n_merges:
            moved += store.relabel(
                study.name, iteration, earlier_ids_at(initial, merges, iteration)
            )
    print(f"moved {moved} explanation(s) of study {study.name} to stable cluster ids")
    return 0


def parse_cluster_ids(text: str) -> list[int]:
    """`1,2,3` -> [1, 2, 3]."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"--clusters {text!r}: expected ids such as 1,2,3")
    return [int(part) for part in parts]


def command_explain(args: argparse.Namespace) -> int:
    """Explain clusters with a language model and score each explanation (detection, fuzzing,
    intruder), each beside its baseline."""
    from dashboard.models.loading import resolve_device
    from dashboard.pipeline.autointerp.clients import ExplainerError, explainer_from_env
    from dashboard.pipeline.autointerp.runner import explain_study
    from dashboard.stores.database import Database, StoreError
    from dashboard.stores.explanations import ExplanationStore
    from dashboard.study import Study
    from dashboard.study.locate import configured_study_path

    settings = Settings.from_env()
    study = Study(configured_study_path(settings.data_dir, str(args.study)))
    iteration = study.default_iteration if args.iteration is None else args.iteration
    try:
        store = ExplanationStore(Database(settings.store_url))
        explainer = explainer_from_env(settings.data_dir, resolve_device(settings.device))
        report = explain_study(
            study,
            iteration,
            store,
            explainer,
            clusters=args.clusters,
            limit=args.limit,
            batch_size=args.batch_size,
            sample=args.sample,
        )
    except (ExplainerError, StoreError) as error:
        print(f"spd-atlas explain: {error}", file=sys.stderr)
        return 1
    per_cluster = report.seconds / max(len(report.explained), 1)
    print(
        f"{study.name} at iteration {iteration}, by {report.author}: explained "
        f"{len(report.explained)} cluster(s), skipped {len(report.skipped)} explained before; "
        f"{report.seconds:.1f} s ({per_cluster:.1f} s per cluster)"
    )
    for measure, (mean, baseline) in report.means().items():
        against = "chance" if measure == "intruder" else "a random other cluster's explanation"
        beside = "n/a" if baseline is None else f"{baseline:.3f}"
        print(f"  mean {measure} score {mean:.3f}, {against} {beside}")
    if report.weak_contrast:
        print(
            f"  {len(report.weak_contrast)} cluster(s) fire in some of their non-activating "
            f"texts, so their scores understate the explanation: {report.weak_contrast[:20]}"
        )
    return 0


def print_report(out: Path, report: dict) -> None:
    summary = {key: report[key] for key in REPORT_SUMMARY if key in report}
    print(f"wrote {out}")
    for key, value in summary.items():
        print(f"  {key:24s} {value:.4f}")


REPORT_SUMMARY = (
    "target_loss",
    "ci_masked_loss",
    "stochastic_masked_loss",
    "ci_masked_kl",
    "stochastic_masked_kl",
    "mean_l0_fraction",
)


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

    worker = commands.add_parser("worker", help="run a Celery worker (scaled mode)")
    worker.add_argument("--queue", choices=sorted(WORKER_APPS), default="gpu")
    worker.add_argument(
        "--threads", type=int, help="torch's threads in the worker (ATLAS_TORCH_THREADS)"
    )
    worker.set_defaults(run=command_worker)

    decompose = commands.add_parser(
        "decompose", help="train an SPD decomposition of a target model"
    )
    decompose.add_argument("--preset", choices=("micro", "demo", "smollm2"), default="demo")
    decompose.add_argument(
        "--model", help="target: micro, demo, smollm2, a model directory or an spd run checkpoint"
    )
    decompose.add_argument(
        "--module",
        action="append",
        metavar="PATTERN=C",
        type=parse_module_option,
        help="module glob and its number of subcomponents (repeatable; replaces the preset's)",
    )
    decompose.add_argument("--steps", type=int)
    decompose.add_argument("--device", choices=("auto", "cpu", "cuda"))
    decompose.add_argument("--out", type=Path, help="default: <data dir>/decompositions/<preset>")
    decompose.add_argument("--force", action="store_true", help="replace a finished result")
    decompose.set_defaults(run=command_decompose)

    build = commands.add_parser(
        "build",
        help="decompose, harvest and cluster into a study (stages already current are skipped)",
    )
    build.add_argument("--preset", choices=("micro", "demo", "smollm2"), default="demo")
    build.add_argument("--decomposition", type=Path, help="use this decomposition directory")
    build.add_argument("--name", help="study name (default: the preset's)")
    build.add_argument("--out", type=Path, help="default: <data dir>/<name>")
    build.add_argument("--device", choices=("auto", "cpu", "cuda"))
    build.add_argument(
        "--workers",
        choices=("local", "celery"),
        default="local",
        help="harvest here, or send its shards to `spd-atlas worker --queue harvest` (REDIS_URL)",
    )
    build.add_argument(
        "--shard-batches", type=int, help="batches per harvest shard (default: the preset's)"
    )
    build.add_argument(
        "--force", action="store_true", help="replace a study built from other inputs"
    )
    build.add_argument(
        "--science-doc",
        type=Path,
        help="also write the study's science report here (the demo's: docs/science.md)",
    )
    build.set_defaults(run=command_build)

    science = commands.add_parser(
        "science",
        help="write a study's science report: each reliability measure, its null and its "
        "distribution, with the explanation scores the store holds",
    )
    science.add_argument("study", type=Path, help="study directory or name in the data dir")
    science.add_argument("--out", type=Path, default=Path("docs/science.md"))
    science.set_defaults(run=command_science)

    clusters = commands.add_parser(
        "import-clustering", help="replace a study's clustering with one made by goodfire-ai/spd"
    )
    clusters.add_argument("study", type=Path, help="study directory or name in the data dir")
    clusters.add_argument(
        "path",
        type=Path,
        help="cluster_mapping_*.json, a run's history.zip, or an ensemble directory",
    )
    clusters.add_argument(
        "--run", dest="ensemble_run", type=int, default=0, help="ensemble run (default 0)"
    )
    clusters.add_argument("--iteration", type=int, help="default iteration (default: the last)")
    clusters.set_defaults(run=command_import_clustering)

    explain = commands.add_parser(
        "explain", help="explain clusters with a language model and score each explanation"
    )
    explain.add_argument("study", type=Path, help="study directory or name in the data dir")
    explain.add_argument("--iteration", type=int, help="default: the study's default iteration")
    explain.add_argument("--limit", type=int, help="only the first N clusters by id")
    explain.add_argument(
        "--sample", type=int, help="N clusters drawn at random (seeded): figures for a study"
    )
    explain.add_argument(
        "--clusters", type=parse_cluster_ids, help="cluster ids, e.g. 1,2,3 (default: all firing)"
    )
    explain.add_argument("--batch-size", type=int, default=8, help="clusters per generation")
    explain.set_defaults(run=command_explain)

    spd = commands.add_parser("import-spd", help="import a goodfire-ai/spd run as a decomposition")
    spd.add_argument("run_dir", type=Path, help="holds final_config.yaml and model_<step>.pth")
    spd.add_argument(
        "--target",
        type=Path,
        help="the decomposed model: a Hugging Face directory, an spd pretraining run or checkpoint "
        "(default: the path in final_config.yaml, if it exists here)",
    )
    spd.add_argument("--tokenizer", type=Path, help="tokenizer directory, if not beside the target")
    spd.add_argument("--step", type=int, help="checkpoint step (default: the latest)")
    spd.add_argument("--out", type=Path, required=True)
    spd.add_argument("--force", action="store_true", help="replace an existing result")
    spd.set_defaults(run=command_import_spd)

    github = commands.add_parser(
        "github-sync", help="store the GitHub issues that discuss clusters, and their comments"
    )
    github.add_argument(
        "--full",
        action="store_true",
        help="read every issue, not only those updated since the last sync",
    )
    github.set_defaults(run=command_github_sync)

    explanations = commands.add_parser("explanations", help="export or import explanations (JSON)")
    actions = explanations.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write the store's explanations as a JSON list")
    export.add_argument("--study", help="only this study's explanations")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    export.set_defaults(run=command_explanations_export)
    load = actions.add_parser("import", help="store a JSON list of explanations: all or none")
    load.add_argument("file", type=Path)
    load.set_defaults(run=command_explanations_import)
    relabel = actions.add_parser(
        "relabel",
        help="move a study's explanations from the cluster ids before stable ids to stable ones",
    )
    relabel.add_argument("study", help="a study directory in the data dir")
    relabel.set_defaults(run=command_explanations_relabel)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (SettingsError, FileExistsError, FileNotFoundError, LookupError, ValueError) as error:
        # every expected failure carries a message naming what was wrong
        print(f"spd-atlas {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
