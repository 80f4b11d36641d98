"""`/probe`: text in, cluster activations out."""

from __future__ import annotations

import dash
from dash import html

from dashboard.components.notices import coming_notice

dash.register_page(__name__, path="/probe", title="Probe · SPD Atlas")


def layout(**_query: str) -> html.Div:
    return coming_notice("Probe", "Type text and see which clusters fire on each token.")
