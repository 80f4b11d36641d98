"""Text windows with every token shaded by an activation; exact values on hover.

Token text comes from the corpus: it is only ever placed in `html.Span` children, which Dash
renders as text, never as HTML.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from dash import dcc, html

SHADE = "rgba(214, 39, 40, {alpha:.2f})"


def shaded_tokens(
    tokens: list[str],
    token_ids: np.ndarray,
    activations: np.ndarray,
    threshold: float = 0.0,
    focus: int | None = None,
    span_id: Callable[[int], dict] | None = None,
) -> list[html.Span]:
    """One span per token; tokens at or under `threshold` stay unshaded. With `span_id`
    (offset -> pattern id) every span is clickable."""
    spans = []
    for offset, (token_id, value) in enumerate(zip(token_ids.tolist(), activations, strict=True)):
        style = {}
        if value > threshold:
            style["backgroundColor"] = SHADE.format(alpha=0.15 + 0.75 * float(value))
        if offset == focus:
            style["outline"] = "2px solid #1f77b4"
        span_props = {"id": span_id(offset), "n_clicks": 0} if span_id else {}
        spans.append(
            html.Span(
                tokens[token_id],
                title=f"offset {offset} · activation {value:.3f}",
                className="token token-focus" if offset == focus else "token",
                style=style,
                **span_props,
            )
        )
    return spans


def example_row(
    tokens: list[str],
    token_ids: np.ndarray,
    activations: np.ndarray,
    offset: int,
    window: int,
    threshold: float,
    context: int = 16,
    span_id: Callable[[int], dict] | None = None,
    query: str = "",
) -> html.Div:
    """`context` tokens either side of the example token, with a link to its sample page
    (`query` keeps the study and iteration)."""
    start, stop = max(0, offset - context), min(len(token_ids), offset + context + 1)
    return html.Div(
        [
            dcc.Link(f"#{window}", href=f"/sample/{window}{query}", className="me-2 small"),
            html.Span(
                shaded_tokens(
                    tokens,
                    token_ids[start:stop],
                    activations[start:stop],
                    threshold,
                    focus=offset - start,
                    span_id=(lambda i: span_id(i + start)) if span_id else None,
                ),
                className="token-text",
            ),
        ],
        className="example-row",
    )


def threshold_slider(slider_id: str, label: str) -> html.Div:
    """The control that sets the shading threshold of example tokens."""
    return html.Div(
        [
            html.Small(label),
            dcc.Slider(
                id=slider_id, min=0, max=1, step=0.05, value=0, marks={0: "0", 0.5: "0.5", 1: "1"}
            ),
        ],
        style={"maxWidth": "24rem"},
    )
