"""Text windows with every token shaded by an activation: their data, for the `TokenText` and
`TokenRows` components (`atlas_components.py`), which draw them in the browser (as text, never
HTML: tokens come from the corpus), shade them (activation in red, or a hue per cluster) and put
the exact value in each token's `title`. A page holds a few components instead of one Dash
component per token.
"""

from __future__ import annotations

import numpy as np
from dash import dcc, html

from dashboard.analysis.activity import ClusterActivation
from dashboard.analysis.cluster_examples import Example
from dashboard.study import Study
from dashboard.study.summary import vocab_tokens
from dashboard.urls import Links


def threshold_to_rows(outputs: int) -> str:
    """A clientside callback's function: the threshold slider's value as the `threshold` of
    `outputs` TokenRows (they re-shade in the browser, without a request)."""
    return f"function (threshold) {{ return Array({outputs}).fill(threshold || 0); }}"


def rounded(values: np.ndarray) -> list[float]:
    """Activations as a JSON list, to 3 decimals."""
    return np.round(np.asarray(values, dtype=np.float64), 3).tolist()


def example_records(
    study: Study,
    activation: ClusterActivation,
    examples: list[Example],
    links: Links,
    context: int = 16,
) -> list[dict]:
    """The row of each example: `context` tokens either side of the example token, its `kind`
    and `band`, and the address of its sample page."""
    _, length = study.window_shape
    windows = study.token_ids
    tokens = vocab_tokens(study)
    records = []
    for example in examples:
        token_ids = np.asarray(windows[example.window])
        activations = activation.in_window(example.window, length)
        start = max(0, example.offset - context)
        stop = min(length, example.offset + context + 1)
        records.append(
            {
                "kind": example.kind,
                "band": example.band,
                "window": example.window,
                "start": start,
                "focus": example.offset - start,
                "tokens": [tokens[token_id] for token_id in token_ids[start:stop].tolist()],
                "values": rounded(activations[start:stop]),
                "href": links.sample(example.window),
            }
        )
    return records


def clicked_token(data: dict | None, window_shape: tuple[int, int]) -> tuple[int, int] | None:
    """`(window, offset)` of a click on a token (the `clicked` of a TokenText or TokenRows), or
    None when the click names no token of the study."""
    token = (data or {}).get("value")
    windows, length = window_shape
    if not isinstance(token, dict):
        return None
    window, offset = token.get("window"), token.get("offset")
    if not all(
        isinstance(number, int) and not isinstance(number, bool) for number in (window, offset)
    ):
        return None
    return (window, offset) if 0 <= window < windows and 0 <= offset < length else None


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
