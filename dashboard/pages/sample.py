"""`/sample/<n>`: one harvested text window."""

from __future__ import annotations

import dash
from dash import html

from dashboard.app_state import current_study
from dashboard.components.notices import no_study_notice, not_found_notice
from dashboard.study.summary import vocab_tokens
from dashboard.urls import parse_index

dash.register_page(__name__, path_template="/sample/<sample_id>", title="Sample · SPD Atlas")


def layout(sample_id: str | None = None, **_query: str) -> html.Div:
    status = current_study()
    if status.study is None:
        return html.Div([html.H2("Sample"), no_study_notice(status.problem)])
    study = status.study
    windows, _ = study.window_shape
    index = parse_index(sample_id)
    if index is None or index >= windows:
        return not_found_notice(
            f"Sample {sample_id!r} does not exist: "
            f"study {study.name} has windows 0 to {windows - 1}."
        )
    tokens = vocab_tokens(study)
    token_ids = study.array("windows/token_ids.npy")[index]
    spans = [
        html.Span(
            tokens[token_id], title=f"position {offset}, token id {token_id}", className="token"
        )
        for offset, token_id in enumerate(token_ids.tolist())
    ]
    return html.Div(
        [
            html.H2(f"Sample {index}"),
            html.P(f"Window {index} of {windows:,} in study {study.name}."),
            html.Div(spans, id="sample-text", className="token-text"),
        ]
    )
