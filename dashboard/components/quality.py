"""The decomposition's quality as a page shows it: a one-line summary that opens onto the
per-module table (a native <details>: nothing to draw until opened)."""

from __future__ import annotations

from dash import html

from dashboard.study.quality import SPARSE_FRACTION, DecompositionQuality

COLUMNS = ("module", "C", "alive", "L0", "L0 / C", "‖W - V U‖ / ‖W‖")


def quality_line(quality: DecompositionQuality) -> str:
    dense = quality.dense_modules
    flagged = ", ".join(f"{m.module} {m.l0_fraction:.1%}" for m in dense)
    return (
        f"Decomposition: the CI-masked model's held-out loss is {quality.loss_gap:+.3f} nats from "
        f"the target's (KL {quality.masked_kl:.3f} nats per token); a token needs "
        f"{quality.mean_l0_fraction:.1%} of a module's subcomponents on average; "
        f"{len(dense)} of {len(quality.modules)} modules above {SPARSE_FRACTION:.0%}"
        + (f" ({flagged})" if dense else "")
        + "."
    )


def quality_details(quality: DecompositionQuality | None, element_id: str) -> html.Details:
    """The summary, and per module its size, L0 and faithfulness (above 10% L0/C in bold)."""
    if quality is None:
        return html.Details(
            html.Summary("Decomposition quality: no training report was found for this study."),
            id=element_id,
            className="small text-muted mb-2",
        )
    rows = [
        html.Tr(
            [
                html.Td(m.module),
                html.Td(f"{m.components:,}"),
                html.Td(f"{m.alive:,}"),
                html.Td(f"{m.l0:.1f}"),
                html.Td(f"{m.l0_fraction:.1%}"),
                html.Td(f"{m.faithfulness_error:.3f}"),
            ],
            className="fw-bold" if m.l0_fraction > SPARSE_FRACTION else None,
        )
        for m in quality.modules
    ]
    return html.Details(
        [
            html.Summary(quality_line(quality)),
            html.Table(
                [html.Thead(html.Tr([html.Th(c) for c in COLUMNS])), html.Tbody(rows)],
                className="table table-sm small mt-1",
            ),
        ],
        id=element_id,
        className="small text-muted mb-2",
    )
