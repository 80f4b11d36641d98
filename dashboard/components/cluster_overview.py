"""The first screen of a cluster's page (its makeup and activation) and its members grid: drawn
with the page when the clusters' measures are stored, else by a callback once computed."""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import dcc, html

from dashboard.analysis.measures import ALWAYS_ON_SHARE, makeup_matrix, reliability_labels
from dashboard.analysis.stability import STABLE
from dashboard.components import charts
from dashboard.components.atlas_components import Chart
from dashboard.components.tables import list_grid, markdown_link
from dashboard.study import Study
from dashboard.study_view import StudyView, loaded_study, per_study
from dashboard.urls import Links

LARGEST_MEMBERS_SHOWN = 6
MEMBER_COLUMNS = [
    {"field": "subcomponent", "cellRenderer": "markdown", "minWidth": 220},
    {"field": "kind", "headerName": "module kind"},
    {"field": "layer"},
    {"field": "share", "valueFormatter": {"function": "d3.format('.1%')(params.value)"}},
    {
        "field": "frequency",
        "headerName": "firing freq.",
        "valueFormatter": {"function": "d3.format('.3~g')(params.value)"},
    },
    {
        "field": "stability",
        "headerName": "stays with the rest",
        "headerTooltip": "share of the other members it shares a cluster with, over the runs "
        "of the stability ensemble",
        "valueFormatter": {
            "function": "params.value == null ? 'not measured' : d3.format('.0%')(params.value)"
        },
    },
]


def sorted_members(analyses, cluster: int) -> pd.DataFrame:
    """The cluster's rows of the members table, largest share first."""
    members = analyses.members[analyses.members["cluster"] == cluster]
    return members.sort_values("share", ascending=False)


def members_grid(study: Study, analyses, cluster: int, links: Links) -> dag.AgGrid:
    """Every member with its module, layer, share and firing frequency, each a link."""
    members = sorted_members(analyses, cluster)
    info = study.subcomponents.iloc[members["subcomponent"].to_numpy()]
    rows = [
        {
            "subcomponent": markdown_link(label, links.component(label)),
            "kind": kind,
            "layer": int(layer),
            "share": round(float(share), 4),
            "frequency": float(frequency),
            "stability": None if np.isnan(stability) else round(float(stability), 4),
        }
        for label, kind, layer, share, frequency, stability in zip(
            info["label"],
            info["module_kind"],
            info["layer"],
            members["share"],
            info["firing_frequency"],
            members["stability"],
            strict=True,
        )
    ]
    return list_grid("member-table", MEMBER_COLUMNS, rows, "22rem")


def largest_members(study: Study, members: pd.DataFrame, links: Links) -> html.P:
    """Links to the members with the largest shares (all of them: the Members section)."""
    shown = members.head(LARGEST_MEMBERS_SHOWN)
    labels = study.subcomponents["label"].iloc[shown["subcomponent"].to_numpy()]
    line: list = ["Largest members: "]
    for index, (label, share) in enumerate(zip(labels, shown["share"], strict=True)):
        line += [", " if index else "", dcc.Link(label, href=links.component(label))]
        line.append(f" ({share:.0%})")
    if len(members) > len(shown):
        line.append(f", and {len(members) - len(shown)} more below.")
    return html.P(line, className="small", id="cluster-top-members")


def stability_line(stability: float, ensemble: dict) -> str:
    """What `stability` says, and of which ensemble (the study's `settings.stability`)."""
    if np.isnan(stability):
        return (
            " Stability: not measured (one member, or no stability ensemble for this study or "
            "iteration)."
        )
    runs = ensemble.get("runs", 0)
    where = (
        f"in the spd ensemble's {runs} other runs"
        if ensemble.get("kind") == "spd ensemble"
        else f"clustered again on {runs} disjoint subsets of the windows"
    )
    return (
        f" Stability {stability:.2f}: {where}, {stability:.0%} of its member pairs stayed in one "
        f"cluster (stable from {STABLE:.0%})."
    )


def reliability(clusters: pd.DataFrame, ensemble: dict) -> html.P:
    """How far to trust a cluster (a one-row `clusters` table): its cohesion against what its
    members would show firing independently, its stability across the study's `ensemble` of
    clusterings, and its labels, each said in one line."""
    row = clusters.iloc[0]
    labels = reliability_labels(clusters).iloc[0]
    lines = [
        html.Span(
            f"Cohesion {row['cohesion']:.3g}: where the cluster fires, that share of its members "
            f"fires. Members firing as often, but independently, would give "
            f"{row['cohesion_null']:.3g}; observed over that, {row['cohesion_ratio']:.3g}; "
            f"above chance, {row['cohesion_excess']:.3g} (0: no more together than chance, 1: "
            "always together).",
        ),
        stability_line(row["stability"], ensemble),
    ]
    if "lump" in labels:
        lines.append(
            html.Span(
                " Lump: its members fire together hardly more than chance; the merge grouped "
                "them, not their firing.",
                className="text-danger",
            )
        )
    if "always-on" in labels:
        lines.append(
            html.Span(
                f" Always on: it fires on {row['firing_frequency']:.0%} of tokens "
                f"(over {ALWAYS_ON_SHARE:.0%}).",
                className="text-warning",
            )
        )
    if row["always_on_members"]:
        lines.append(
            f" {int(row['always_on_members'])} of its members fire on over "
            f"{ALWAYS_ON_SHARE:.0%} of tokens."
        )
    return html.P(
        [
            dbc.Badge(label, color="secondary", className="me-1")
            for label in labels.split(", ")
            if label
        ]
        + lines,
        className="small",
        id="cluster-reliability",
    )


def makeup_section(study: Study, analyses, cluster: int, links: Links) -> dbc.Row:
    """Members by layer and module kind, and the makeup measures."""
    members = sorted_members(analyses, cluster)
    row = analyses.clusters.iloc[analyses.row_of(cluster)]
    facts = (
        f"Depth {row['depth_mean']:.2f} ± {row['depth_spread']:.2f} layers · attention share "
        f"{row['attention_share']:.0%} · {int(row['n_modules'])} modules, top "
        f"{row['top_module']} ({row['top_module_share']:.0%}), module entropy "
        f"{row['module_entropy']:.2f} nats · member firing Gini {row['member_gini']:.2f}"
    )
    return dbc.Row(
        [
            dbc.Col(
                Chart(
                    charts.makeup_heatmap(
                        makeup_matrix(study.subcomponents, members["subcomponent"].to_numpy())
                    ),
                    id="cluster-makeup",
                ),
                lg=5,
            ),
            dbc.Col(
                [
                    html.P(facts, className="small", id="cluster-facts"),
                    reliability(
                        analyses.clusters.iloc[[analyses.row_of(cluster)]],
                        (study.manifest.get("settings") or {}).get("stability", {}),
                    ),
                    largest_members(study, members, links),
                ],
                lg=7,
            ),
        ]
    )


def activation_section(study: Study, analyses, cluster: int) -> dbc.Row:
    row = analyses.row_of(cluster)
    arrays = analyses.arrays
    bins = arrays["ci_histogram"].shape[1]
    threshold = float((study.manifest.get("settings") or {}).get("harvest", {}).get("threshold", 0))
    edges = np.linspace(threshold, 1, bins + 1)
    offsets = np.arange(arrays["position_mass"].shape[1])
    measures = analyses.clusters.iloc[row]
    charts_shown = [
        charts.histogram(
            edges,
            {
                "all tokens": arrays["ci_histogram"][row],
                "window maxima": arrays["window_max_histogram"][row],
            },
            f"Activation (fires on {measures['firing_frequency']:.3%} of tokens)",
            "activation",
        ),
        charts.steps(
            offsets,
            {"mass": arrays["position_mass"][row]},
            f"Activation mass by position (entropy {measures['position_entropy']:.2f})",
            "position in window",
            "activation mass",
        ),
        charts.steps(
            offsets,
            {"windows": arrays["argmax_position"][row]},
            "Position of each window's maximum",
            "position in window",
            "windows",
        ),
    ]
    return dbc.Row(
        [
            dbc.Col(Chart(chart, id=f"cluster-activation-{index}"), lg=4)
            for index, chart in enumerate(charts_shown)
        ]
    )


@per_study(maxsize=64)
def overview_children(version: str, iteration: int, cluster: int, links: Links) -> list:
    """Makeup and activation of a cluster."""
    study = loaded_study(version)
    analyses = StudyView(study, iteration).analyses()
    return [
        titled("Makeup", makeup_section(study, analyses, cluster, links)),
        titled("Activation", activation_section(study, analyses, cluster)),
    ]


def titled(title: str, body) -> html.Div:
    return html.Div(
        [html.H4(title, className="mt-4 mb-2"), body],
        id=f"section-{title.lower().replace(' ', '-')}",
    )
