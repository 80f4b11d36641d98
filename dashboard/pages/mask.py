"""`/masks/<mask_hash>`: one stored causal mask."""

from __future__ import annotations

import dash
from dash import html

from dashboard.components.notices import coming_notice

dash.register_page(__name__, path_template="/masks/<mask_hash>", title="Causal mask · SPD Atlas")


def layout(mask_hash: str | None = None, **_query: str) -> html.Div:
    return coming_notice(
        "Causal mask",
        f"Mask {mask_hash!r} cannot be looked up: there is no mask store in this build.",
    )
