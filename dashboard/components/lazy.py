"""Sections filled only when scrolled near (`assets/lazy_sections.js`), so a page's first screen
is drawn first."""

from __future__ import annotations

from dash import dcc, html


def lazy_section(title: str, body, trigger_id: str, section_id: str | None = None) -> html.Div:
    """A titled section whose `dcc.Store(trigger_id)` turns true once it is scrolled near: the
    callbacks that fill `body` take that store as Input and wait for it."""
    return html.Div(
        [
            html.H4(title, className="mt-4 mb-2"),
            dcc.Store(id=trigger_id, data=False),
            body,
        ],
        id=section_id or f"section-{title.lower().replace(' ', '-')}",
        className="lazy-section",
        **{"data-trigger": trigger_id},
    )
