"""The page for any path the app does not know."""

from __future__ import annotations

import dash
from dash import html

from dashboard.components.notices import not_found_notice

dash.register_page(__name__, title="Not found · SPD Atlas")


def layout(**_query: str) -> html.Div:
    return not_found_notice("This address is not a page of SPD Atlas.")
