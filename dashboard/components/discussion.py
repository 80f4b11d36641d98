"""A cluster's explanations and its GitHub discussion: forms, lists, and Markdown from outside
rendered harmless."""

from __future__ import annotations

import re

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.stores.explanations import MAX_EXPLANATION_CHARS, Explanation, Score
from dashboard.stores.github import DiscussionIssue

SOURCE_COLOURS = {"person": "primary", "github": "dark", "model": "info"}
SAFE_LINK = re.compile(r"^(https?:|mailto:|/|#)", re.IGNORECASE)
INLINE_LINK = re.compile(r"(\]\(\s*<?)([^)\s>]*)")  # [text](target ...)
REFERENCE_LINK = re.compile(r"^(\s{0,3}\[[^\]]+\]:\s*<?)(\S+?)(>?)(\s|$)", re.MULTILINE)
AUTOLINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^>\s]*)>", re.IGNORECASE)


def safe_markdown(text: str) -> str:
    """Markdown from outside with every link target that is not http(s), mailto, or a path on
    this site replaced by `#` (javascript:, data:, vbscript: ...). Raw HTML is never rendered:
    dcc.Markdown shows it as text unless told otherwise, and it is not told."""

    def inline(match: re.Match) -> str:
        target = match.group(2)
        return match.group(1) + (target if not target or SAFE_LINK.match(target) else "#")

    def reference(match: re.Match) -> str:
        target = match.group(2)
        kept = target if SAFE_LINK.match(target) else "#"
        return f"{match.group(1)}{kept}{match.group(3)}{match.group(4)}"

    def autolink(match: re.Match) -> str:
        return match.group(0) if SAFE_LINK.match(match.group(1)) else "`unsafe link removed`"

    return AUTOLINK.sub(autolink, REFERENCE_LINK.sub(reference, INLINE_LINK.sub(inline, text)))


def outside_markdown(text: str, **props) -> dcc.Markdown:
    return dcc.Markdown(
        safe_markdown(text), dangerously_allow_html=False, link_target="_blank", **props
    )


def explanation_form(author_id: str, text_id: str, save_id: str, message_id: str) -> html.Div:
    return html.Div(
        [
            dbc.Input(
                id=author_id, placeholder="your name", size="sm", className="mb-2", maxLength=200
            ),
            dbc.Textarea(
                id=text_id,
                placeholder="What does this cluster do?",
                rows=2,
                maxLength=MAX_EXPLANATION_CHARS,
                className="mb-2",
            ),
            dbc.Button("Save explanation", id=save_id, size="sm", color="primary"),
            dbc.Alert(id=message_id, is_open=False, color="warning", className="mt-2 small"),
        ],
        style={"maxWidth": "48rem"},
    )


SCORE_MEANINGS = {
    "detection": (
        "random explanation",
        "given the explanation, does the judge tell texts where the cluster fires from texts "
        "where it does not? (AUROC, 0.5 = chance)",
    ),
    "fuzzing": (
        "random explanation",
        "given the explanation, does the judge tell the tokens where it fires, marked, from "
        "as many other tokens marked? (AUROC, 0.5 = chance)",
    ),
    "intruder": (
        "chance",
        "without an explanation, can the judge pick the one text of five not from this "
        "cluster? (probability of the right pick)",
    ),
}


def score_lines(scores: tuple[Score, ...]) -> html.Ul:
    """Each score beside its baseline, with a line on what it measures."""
    items = []
    for score in scores:
        against, meaning = SCORE_MEANINGS[score.measure]
        baseline = "not measured" if score.baseline is None else f"{score.baseline:.2f}"
        items.append(
            html.Li(
                [
                    html.Strong(f"{score.measure} {score.value:.2f}"),
                    f" · {against} {baseline}: {meaning}",
                ]
            )
        )
    return html.Ul(items, className="small text-muted mb-0 explanation-scores")


def explanation_list(explanations: list[Explanation]) -> html.Div:
    if not explanations:
        return html.P(
            "No explanation has been written for this cluster yet.", className="text-muted"
        )
    items = []
    for explanation in explanations:
        score = (
            f" · detection score {explanation.score:.2f}"
            if explanation.score is not None and not explanation.scores
            else ""
        )
        items.append(
            dbc.ListGroupItem(
                [
                    html.Div(explanation.text, className="explanation-text"),
                    html.Small(
                        [
                            dbc.Badge(
                                explanation.source,
                                color=SOURCE_COLOURS[explanation.source],
                                className="me-2",
                            ),
                            f"{explanation.author} · {explanation.updated_at[:10]}{score}",
                        ],
                        className="text-muted",
                    ),
                    score_lines(explanation.scores) if explanation.scores else None,
                ]
            )
        )
    return dbc.ListGroup(items, className="mb-3")


def discuss_link(href: str | None) -> html.Div:
    if href is None:
        return html.P(
            [
                "Set ",
                html.Code("ATLAS_GITHUB_REPO"),
                " (owner/name) to discuss clusters in GitHub issues.",
            ],
            className="text-muted small",
        )
    return html.A(
        "Discuss on GitHub",
        href=href,
        target="_blank",
        rel="noopener noreferrer",
        className="btn btn-outline-dark btn-sm me-2",
        id="cluster-discuss-link",
    )


def issue_list(issues: list[DiscussionIssue]) -> html.Div:
    if not issues:
        return html.P("No GitHub issue discusses this cluster yet.", className="text-muted small")
    cards = []
    for issue in issues:
        comments = [
            html.Div(
                [
                    html.Small(
                        f"{comment.author} · {comment.created_at[:10]}", className="text-muted"
                    ),
                    outside_markdown(comment.body, className="discussion-comment"),
                ],
                className="border-top pt-2",
            )
            for comment in issue.comments
        ]
        cards.append(
            dbc.Card(
                dbc.CardBody(
                    [
                        html.H6(
                            [
                                dbc.Badge(
                                    issue.state,
                                    color="success" if issue.state == "open" else "secondary",
                                    className="me-2",
                                ),
                                html.A(
                                    f"#{issue.number} {issue.title}",
                                    href=issue.url if SAFE_LINK.match(issue.url) else "#",
                                    target="_blank",
                                    rel="noopener noreferrer",
                                ),
                            ]
                        ),
                        outside_markdown(issue.body or "", className="discussion-body"),
                        *comments,
                    ]
                ),
                className="mb-2",
            )
        )
    return html.Div(cards)
