"""What a cluster is explained and judged from: its example windows marked where it fires, its
top tokens, non-activating spans and intruder trials (the package docstring says how)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dashboard.analysis.activity import ClusterActivation, cluster_activation
from dashboard.analysis.cluster_examples import Example, cluster_examples
from dashboard.analysis.study_analyses import cluster_analyses, cluster_decodings
from dashboard.study.reader import Study
from dashboard.study.summary import vocab_tokens

MARK_OPEN, MARK_CLOSE = "<<", ">>"
CANDIDATES_PER_TEXT = 20  # random spans drawn per non-activating text wanted
SPECIAL_TOKEN = re.compile(r"<\|([^|<>]*)\|>")
INTRUDER_CHOICES = 5  # texts in an intruder trial: all but one from the cluster


@dataclass(frozen=True)
class EvidenceConfig:
    top_examples: int = 5  # strongest windows shown to the explainer
    quantile_examples: int = 3  # spread over the activation bands, weakest first
    context: int = 8  # tokens either side of an example token
    top_tokens: int = 8
    lens_tokens: int = 8
    detection_texts: int = 5  # activating texts, and as many non-activating ones, judged
    intruder_trials: int = 4
    seed: int = 0


DEFAULT_EVIDENCE = EvidenceConfig()


@dataclass(frozen=True)
class ClusterEvidence:
    cluster: int
    top_examples: tuple[str, ...]  # firing tokens marked <<like this>>
    quantile_examples: tuple[str, ...]  # marked alike, weakest band first
    top_tokens: tuple[str, ...]  # by activation mass, as Python literals
    lens_tokens: tuple[str, ...]  # promoted by its write directions (logit lens); () without
    activating: tuple[str, ...]  # unmarked, for the detection test
    non_activating: tuple[str, ...]  # unmarked, for the detection test
    weak_contrast: bool  # the cluster fires in some of its non-activating texts
    rightly_marked: tuple[str, ...] = ()  # the activating texts, firing tokens marked (fuzzing)
    wrongly_marked: tuple[str, ...] = ()  # the same texts, as many other tokens marked
    intruder_trials: tuple[tuple[tuple[str, ...], int], ...] = ()  # texts, the intruder's index


def span_bounds(offset: int, length: int, context: int) -> tuple[int, int]:
    """`2 context + 1` tokens around `offset`, shifted to lie inside a window of `length`."""
    width = min(2 * context + 1, length)
    start = min(max(offset - context, 0), length - width)
    return start, start + width


def visible(token: str) -> str:
    """A token on one line, newlines and tabs written as escapes; a special token such as
    `<|endoftext|>` as `[endoftext]`, which the explaining model's tokenizer does not parse."""
    token = SPECIAL_TOKEN.sub(r"[\1]", token)
    return token.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def token_label(token: str) -> str:
    """A token as a Python literal, special tokens written as in `visible`."""
    return repr(SPECIAL_TOKEN.sub(r"[\1]", token))


def span_text(tokens: Sequence[str], token_ids: np.ndarray, firing: np.ndarray | None) -> str:
    """The text of a span; with `firing` (a bool per token), each run of firing tokens is
    marked `<<...>>`, leading spaces kept outside the mark."""
    pieces = [visible(tokens[int(t)]) for t in token_ids]
    if firing is None:
        return "".join(pieces)
    parts: list[str] = []
    run: list[str] = []
    for piece, fires in zip(pieces, firing, strict=True):
        if fires:
            run.append(piece)
            continue
        if run:
            parts.append(marked("".join(run)))
            run = []
        parts.append(piece)
    if run:
        parts.append(marked("".join(run)))
    return "".join(parts)


def marked(text: str) -> str:
    stripped = text.lstrip()
    return f"{text[: len(text) - len(stripped)]}{MARK_OPEN}{stripped}{MARK_CLOSE}"


def spread(items: Sequence, count: int) -> list:
    """`count` evenly spaced items (all of them when there are no more)."""
    if len(items) <= count:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def example_text(
    example: Example,
    windows: np.ndarray,
    activation: ClusterActivation,
    tokens: Sequence[str],
    context: int,
    mark: bool,
) -> str:
    length = windows.shape[1]
    start, stop = span_bounds(example.offset, length, context)
    token_ids = np.asarray(windows[example.window, start:stop])
    firing = activation.in_window(example.window, length)[start:stop] > 0 if mark else None
    return span_text(tokens, token_ids, firing)


def wrong_marks(firing: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """As many tokens as fire in `firing` (at least one), chosen at random among those that do
    not (all of them when fewer do not); None when every token fires (no wrong mark exists)."""
    pool = np.flatnonzero(~firing)
    if len(pool) == 0:
        return None
    count = min(max(int(firing.sum()), 1), len(pool))
    marks = np.zeros(len(firing), dtype=bool)
    marks[rng.choice(pool, size=count, replace=False)] = True
    return marks


def intruder_trials(
    examples: Sequence[str], intruders: Sequence[str], trials: int, rng: np.random.Generator
) -> tuple[tuple[tuple[str, ...], int], ...]:
    """`trials` sets of INTRUDER_CHOICES - 1 of `examples` and one of `intruders`, shuffled,
    with the intruder's index; none when there are too few examples or no intruder."""
    wanted = INTRUDER_CHOICES - 1
    if len(examples) < wanted or not intruders:
        return ()
    found = []
    for trial in range(trials):
        chosen = [examples[i] for i in rng.choice(len(examples), size=wanted, replace=False)]
        at = int(rng.integers(0, INTRUDER_CHOICES))
        chosen.insert(at, intruders[trial % len(intruders)])
        found.append((tuple(chosen), at))
    return tuple(found)


def quiet_spans(
    activation: ClusterActivation,
    n_windows: int,
    length: int,
    width: int,
    count: int,
    rng: np.random.Generator,
) -> tuple[list[tuple[int, int]], bool]:
    """`count` (window, start) spans of `width` tokens where the cluster fires least, of
    `CANDIDATES_PER_TEXT * count` random ones; and whether it fires in any of those chosen."""
    n_candidates = CANDIDATES_PER_TEXT * count
    windows = rng.integers(0, n_windows, size=n_candidates)
    starts = rng.integers(0, length - width + 1, size=n_candidates)
    flat = windows * length + starts
    _, first = np.unique(flat, return_index=True)
    keep = np.sort(first)  # distinct spans, still in random order
    flat_mass = np.concatenate([[0.0], np.cumsum(activation.values, dtype=np.float64)])
    low = np.searchsorted(activation.positions, flat[keep])
    high = np.searchsorted(activation.positions, flat[keep] + width)
    mass = flat_mass[high] - flat_mass[low]
    chosen = keep[np.argsort(mass, kind="stable")[:count]]
    fires = bool(np.sort(mass)[:count].max(initial=0.0) > 0)
    return [(int(windows[i]), int(starts[i])) for i in chosen], fires


def cluster_evidence(
    study: Study, iteration: int, cluster: int, config: EvidenceConfig = DEFAULT_EVIDENCE
) -> ClusterEvidence:
    """What the explainer reads about one cluster, and the texts its explanation is scored on."""
    analyses = cluster_analyses(study, iteration)
    analyses.row_of(cluster)  # KeyError for a cluster that does not exist at this iteration
    members = analyses.members[analyses.members["cluster"] == cluster]["subcomponent"]
    activation = cluster_activation(study.activations, members.to_numpy())
    windows = study.token_ids
    n_windows, length = windows.shape
    tokens = vocab_tokens(study)
    examples = cluster_examples(activation, length)
    top = [e for e in examples if e.kind == "top"]
    quantile = [e for e in examples if e.kind == "quantile"]
    shown_top = top[: config.top_examples]
    shown_quantile = spread(quantile, config.quantile_examples)
    held_out = [e for e in quantile if e not in shown_quantile] + top[config.top_examples :]
    scored = spread(held_out, config.detection_texts)
    if len(scored) < config.detection_texts:  # too few examples: reuse the ones shown
        scored += spread(shown_top + shown_quantile, config.detection_texts - len(scored))

    def texts(chosen: list[Example], mark: bool) -> tuple[str, ...]:
        return tuple(
            example_text(e, windows, activation, tokens, config.context, mark) for e in chosen
        )

    width = span_bounds(0, length, config.context)[1]
    rng = np.random.default_rng([config.seed, cluster])
    spans, weak_contrast = quiet_spans(
        activation, n_windows, length, width, config.detection_texts, rng
    )
    top_token_ids = analyses.tokens[
        (analyses.tokens["cluster"] == cluster) & (analyses.tokens["ranking"] == "mass")
    ].sort_values("rank")["token_id"]
    decodings = cluster_decodings(study, iteration, cluster, top=config.lens_tokens)
    promoted_ids = decodings[
        (decodings["lens"] == "logit")
        & (decodings["side"] == "write")
        & (decodings["end"] == "top")
    ].sort_values("rank")["item"]
    fuzz_rng = np.random.default_rng([config.seed, cluster, 1])
    rightly, wrongly = [], []
    for example in scored:
        start, stop = span_bounds(example.offset, length, config.context)
        token_ids = np.asarray(windows[example.window, start:stop])
        firing = activation.in_window(example.window, length)[start:stop] > 0
        wrong = wrong_marks(firing, fuzz_rng)
        if wrong is not None:  # a span where every token fires has no wrong marks to tell
            rightly.append(span_text(tokens, token_ids, firing))
            wrongly.append(span_text(tokens, token_ids, wrong))
    non_activating = tuple(
        span_text(tokens, np.asarray(windows[w, s : s + width]), None) for w, s in spans
    )
    return ClusterEvidence(
        cluster=cluster,
        top_examples=texts(shown_top, mark=True),
        quantile_examples=texts(shown_quantile, mark=True),
        top_tokens=tuple(token_label(tokens[t]) for t in top_token_ids.iloc[: config.top_tokens]),
        lens_tokens=tuple(token_label(tokens[t]) for t in promoted_ids.iloc[: config.lens_tokens]),
        activating=texts(scored, mark=False),
        non_activating=non_activating,
        weak_contrast=weak_contrast,
        rightly_marked=tuple(rightly),
        wrongly_marked=tuple(wrongly),
        intruder_trials=intruder_trials(
            texts(examples, mark=False),
            non_activating,
            config.intruder_trials,
            np.random.default_rng([config.seed, cluster, 2]),
        ),
    )
