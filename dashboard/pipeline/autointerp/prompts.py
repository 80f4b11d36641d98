"""The prompts that ask for an explanation and for each judgment, and reading one line of an
answer."""

from __future__ import annotations

from collections.abc import Sequence

from dashboard.pipeline.autointerp.evidence import MARK_CLOSE, MARK_OPEN, ClusterEvidence

ANSWER_PREFIX = "The feature fires on"  # the local model continues this, which keeps it on topic
NO_EXPLANATION = "(no explanation: the model's answer was empty)"
MAX_EXPLANATION_CHARS = 300


def explanation_prompt(evidence: ClusterEvidence) -> str:
    """The question put to the explainer about one cluster."""
    examples = [*evidence.top_examples, *evidence.quantile_examples]
    lines = [
        "Below are text excerpts where one feature of a language model is active. "
        f"The tokens where it is active are marked {MARK_OPEN}like this{MARK_CLOSE}.",
        *(f"{i}. {text}" for i, text in enumerate(examples, start=1)),
    ]
    if evidence.top_tokens:
        lines.append(f"Tokens it is most active on: {', '.join(evidence.top_tokens)}")
    if evidence.lens_tokens:
        lines.append(f"Tokens it makes more likely next: {', '.join(evidence.lens_tokens)}")
    lines.append("In one short phrase, what does the feature fire on?")
    return "\n".join(lines)


def detection_prompt(explanation: str, text: str) -> str:
    return (
        f"Does the following text contain {explanation.rstrip('.')}? Answer Yes or No.\n\n"
        f"Text: {text}"
    )


def fuzzing_prompt(explanation: str, text: str) -> str:
    return (
        f"A feature of a language model is active on {explanation.rstrip('.')}. In the text "
        f"below, some tokens are marked {MARK_OPEN}like this{MARK_CLOSE}. Are the marked tokens "
        f"ones where this feature is active? Answer Yes or No.\n\nText: {text}"
    )


def intruder_prompt(texts: Sequence[str]) -> str:
    return "\n".join(
        [
            "All but one of these text excerpts share something that one feature of a language "
            "model is active on; one does not. Which excerpt is the odd one out? Answer with "
            "its number only.",
            *(f"{i}. {text}" for i, text in enumerate(texts, start=1)),
        ]
    )


def one_line(answer: str) -> str:
    """The first non-empty line of an answer, trimmed and without the prompt's marks;
    NO_EXPLANATION when there is none."""
    for line in answer.replace(MARK_OPEN, "").replace(MARK_CLOSE, "").splitlines():
        line = line.strip()
        if line:
            return line[:MAX_EXPLANATION_CHARS]
    return NO_EXPLANATION
