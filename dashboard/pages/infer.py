"""`/infer?mask=<hash>`: masked inference on a prompt set."""

from __future__ import annotations

import dash
from dash import html

from dashboard.components.notices import coming_notice

dash.register_page(__name__, path="/infer", title="Masked inference · SPD Atlas")


def layout(**_query: str) -> html.Div:
    return coming_notice(
        "Masked inference",
        "Run the model with a causal mask on a prompt set and compare it with the target.",
    )
