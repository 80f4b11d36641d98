"""`/masks`: define, edit and label causal masks."""

from __future__ import annotations

import dash
from dash import html

from dashboard.components.notices import coming_notice

dash.register_page(__name__, path="/masks", title="Causal masks · SPD Atlas")


def layout(**_query: str) -> html.Div:
    return coming_notice(
        "Causal masks",
        "Build a causal mask from a prompt set or by hand, and store it under its content hash.",
    )
