"""The frame every page shares: navigation bar and page container."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.components.notices import CALLBACK_ERROR

NAV_ITEMS = (
    ("Clusters", "/clusters"),
    ("Probe", "/probe"),
    ("Graph", "/graph"),
    ("Masks", "/masks"),
    ("Masked inference", "/infer"),
    ("Study", "/study"),
)


def navbar(study_label: str) -> dbc.Navbar:
    links = [
        dbc.NavItem(dbc.NavLink(label, href=href, active="partial")) for label, href in NAV_ITEMS
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("SPD Atlas", href="/clusters"),
                dbc.Nav(links, navbar=True, className="me-auto"),
                html.Span(study_label, id="navbar-study", className="navbar-text small"),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-3",
    )


def app_shell(study_label: str) -> html.Div:
    return html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            navbar(study_label),
            dbc.Container(
                [
                    dbc.Alert(id=CALLBACK_ERROR, color="danger", is_open=False, dismissable=True),
                    dash.page_container,
                ],
                fluid=True,
                id="page",
            ),
        ]
    )
