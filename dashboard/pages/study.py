"""`/study`: what a study is: its provenance and the decomposition's quality, the harvest, the
clustering's configuration and MDL curve, and the stability of its clusters. `?study=` picks a
study of the data dir. Everything is read in the layout: nothing here needs a callback but the
MDL curve's click, which opens the list at that iteration, and the panel of a build in progress,
which shows the harvest's figures, also before the study exists (`callbacks/study.py`)."""

from __future__ import annotations

import dash
import numpy as np
from dash import dcc, html

from dashboard.analysis.study_analyses import analysis_settings, stored_iteration
from dashboard.app_state import study_directory
from dashboard.components.atlas_components import Chart
from dashboard.components.build_progress import build_progress_section
from dashboard.components.merge_history import mdl_chart
from dashboard.components.quality import quality_details
from dashboard.components.study_page import StudyPage, open_study_page
from dashboard.components.tables import small_table
from dashboard.study import Study
from dashboard.study.build_progress import read_progress
from dashboard.study.quality import decomposition_quality
from dashboard.study.summary import study_counts
from dashboard.study_view import StudyView, links_of
from dashboard.urls import single

dash.register_page(__name__, path="/study", title="Study · SPD Atlas")

MDL = "study-mdl"
STATE = "study-state"
GO = "study-go"  # set to the list's address at a picked iteration


def provenance_table(study: Study) -> list:
    manifest = study.manifest
    rows = [
        ["name", study.name],
        ["created", str(manifest.get("created_at", "unknown"))],
        ["study format version", str(manifest.get("schema_version", "unknown"))],
        *[
            [f"{what.replace('_', ' ')} (sha256)", html.Code(str(digest)[:16] + "…")]
            for what, digest in (manifest.get("provenance") or {}).items()
        ],
    ]
    return [
        html.H4("Provenance", className="mt-3"),
        small_table(["", ""], rows, table_id="study-provenance"),
        quality_details(decomposition_quality(study), "study-quality"),
    ]


def harvest_section(study: Study) -> list:
    counts = study_counts(study)
    settings = (study.manifest.get("settings") or {}).get("harvest") or {}
    rows = [
        ["tokens", f"{counts.windows * counts.window_length:,}"],
        ["windows", f"{counts.windows:,} of {counts.window_length} tokens"],
        ["stored activations (CI above the threshold)", f"{counts.stored_activations:,}"],
        ["threshold", str(settings.get("threshold", "unknown"))],
        ["subcomponents", f"{counts.subcomponents:,} in {counts.modules} modules"],
        ["alive (in a cluster)", f"{counts.alive:,}"],
    ]
    subcomponents = study.subcomponents
    groups = study.initial_groups
    per_module = (
        subcomponents.assign(alive=groups >= 0)
        .groupby("module", sort=False)["alive"]
        .agg(["size", "sum"])
    )
    modules = [
        [module, f"{int(row['size']):,}", f"{int(row['sum']):,}", f"{row['sum'] / row['size']:.0%}"]
        for module, row in per_module.iterrows()
    ]
    return [
        html.H4("Harvest", className="mt-4"),
        small_table(["", ""], rows, table_id="study-harvest"),
        html.H6("Alive subcomponents per module"),
        small_table(["module", "subcomponents", "alive", "share"], modules, "study-modules"),
    ]


def clustering_section(study: Study) -> list:
    settings = study.manifest.get("settings") or {}
    config = settings.get("clustering") or {}
    rows = [[name.replace("_", " "), str(value)] for name, value in config.items()]
    chart = mdl_chart(study, study.default_iteration, pick=True)
    rows += [
        ["merges", f"{study.n_merges:,}"],
        [
            "default iteration" + ("" if chart is None else " (least MDL)"),
            str(study.default_iteration),
        ],
    ]
    return [
        html.H4("Clustering", className="mt-4"),
        small_table(["", ""], rows, table_id="study-clustering"),
        *(
            []
            if chart is None
            else [
                html.Div(Chart(id=MDL, chart=chart), style={"maxWidth": "40rem"}),
                html.Small(
                    "Click the curve to open the list of clusters at that iteration.",
                    className="text-muted",
                ),
            ]
        ),
    ]


def stability_section(study: Study) -> list:
    settings = (study.manifest.get("settings") or {}).get("stability") or {}
    iteration = stored_iteration(study)
    if not settings.get("runs") or iteration is None:
        return [
            html.H4("Stability", className="mt-4"),
            html.P(
                "This study has no ensemble: the stability of its clusters is not measured.",
                id="study-stability",
                className="text-muted",
            ),
        ]
    stability = StudyView(study, iteration).analyses().clusters["stability"].to_numpy(np.float64)
    measured = stability[np.isfinite(stability)]
    quantiles = np.percentile(measured, [10, 25, 50, 75, 90]) if measured.size else []
    return [
        html.H4("Stability", className="mt-4"),
        html.P(
            f"{settings['runs']} runs ({settings.get('kind', 'ensemble')}); at iteration "
            f"{iteration}, the share of each cluster's member pairs that the other runs keep "
            f"together, over {measured.size:,} clusters: "
            + ", ".join(
                f"{name} {value:.2f}"
                for name, value in zip(
                    ("10th", "25th", "median", "75th", "90th"), quantiles, strict=True
                )
            )
            + ".",
            id="study-stability",
        ),
    ]


def analyses_section(study: Study) -> list:
    settings = analysis_settings(study)
    timings = settings.get("timings") or {}
    rows = [["stored at iteration", str(stored_iteration(study) or "none (computed on demand)")]]
    rows += [[name.replace("_", " "), f"{seconds} s"] for name, seconds in timings.items()]
    return [
        html.H4("Analyses", className="mt-4"),
        small_table(["", ""], rows, table_id="study-analyses"),
    ]


def build_in_progress(name: str | None, study_exists: bool) -> html.Div:
    """The panel of a build of this study in progress; where the study does not exist yet, one
    that appears when its build starts."""
    directory = study_directory(name)
    if directory is None:
        return html.Div()
    return build_progress_section(name, read_progress(directory), watch=not study_exists)


def layout(**query: str | list[str]) -> html.Div:
    name = single(query.get("study"))
    opened = open_study_page("Study", query)
    if not isinstance(opened, StudyPage):
        return html.Div([build_in_progress(name, study_exists=False), opened])
    building = build_in_progress(name, study_exists=True)
    study = opened.study
    return html.Div(
        [
            building,
            dcc.Location(id=GO, refresh="callback-nav"),
            dcc.Store(id=STATE, data={"study": name, "version": study.version}),
            html.H2(f"Study {study.name}", id="study-title"),
            dcc.Link("Its clusters", href=links_of(study, {"study": name}).clusters()),
            *provenance_table(study),
            *harvest_section(study),
            *clustering_section(study),
            *stability_section(study),
            *analyses_section(study),
        ],
        style={"maxWidth": "60rem"},
    )
