"""Offline autointerp: a language model proposes a one-line explanation of each cluster from its
example windows, and three tests score it, each beside its baseline.

Evidence (kept to a few hundred tokens for a 135M-parameter model): the cluster's strongest
example windows and a few from its activation bands, `context` tokens either side of the example
token with the runs of tokens where the cluster fires marked `<<like this>>`; its top tokens by
activation mass; and, when the study has lenses, the tokens its write directions promote under
the logit lens.

The judge is the explaining model. Its yes/no judgment is P(Yes) from its next-token logits, the
softmax over "Yes", " Yes", "No" and " No" summed over the two Yes tokens; an API's answer text
counts 1 for yes, 0 for no and 0.5 for anything else.
- Detection: the judge reads `n` activating texts (spans around examples of the cluster that
  the explanation prompt did not show, spread over its activation bands) and `n` non-activating
  texts (of `CANDIDATES_PER_TEXT * n` random spans of the corpus, drawn with a seed per cluster,
  the `n` on which the cluster's activation mass is least: spans where it does not fire at all,
  unless it fires nearly everywhere; such clusters are listed as `weak_contrast`), each unmarked,
  with "Does the following text contain <explanation>?". The score is the AUROC of the
  judgments, activating against non-activating (rank-based, ties counting half): 1 = the
  explanation separates them perfectly, 0.5 = chance.
- Fuzzing: the activating texts twice, once with the tokens where the cluster fires marked and
  once with as many other tokens marked at random (all of the others, when fewer do not fire; a
  text where every token fires is left out); the judge is asked whether the marked tokens are
  what the explanation describes. The score is the AUROC, right marks against wrong ones.
- Intruder (no explanation): `INTRUDER_CHOICES - 1` example texts of the cluster and one
  non-activating text, in a random order; the judge names the odd one out by its number. The
  score is the mean probability it gives the right number (an API's answer: 1 if right), over
  `intruder_trials` trials; its baseline, chance, is 1 / INTRUDER_CHOICES.
The baseline of detection and fuzzing is the same test, for the same cluster and texts, of a
random other cluster's explanation (Paulo et al. 2024, arXiv 2410.13928): a judge that reads the
explanation does better than it; one that answers from the texts alone does not. By construction
it averages 0.5 over clusters. An explanation that the model left empty is stored as a note,
without scores.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from dashboard.analysis.cluster_examples import (
    ClusterActivation,
    Example,
    activation_of,
    cluster_examples,
)
from dashboard.analysis.study_analyses import cluster_analyses, cluster_decodings
from dashboard.models.loading import load_target
from dashboard.stores.explanations import MEASURES, Explanation, ExplanationStore, Score
from dashboard.study.reader import Study
from dashboard.study.summary import vocab_tokens

LOCAL_MODEL_NAME = "SmolLM2-135M-Instruct"
MARK_OPEN, MARK_CLOSE = "<<", ">>"
ANSWER_PREFIX = "The feature fires on"  # the local model continues this, which keeps it on topic
NO_EXPLANATION = "(no explanation: the model's answer was empty)"
MAX_EXPLANATION_CHARS = 300
CANDIDATES_PER_TEXT = 20  # random spans drawn per non-activating text wanted
UNCLEAR_ANSWER = 0.5  # an API answer that is neither yes nor no
SPECIAL_TOKEN = re.compile(r"<\|([^|<>]*)\|>")
YES_TOKENS, NO_TOKENS = ("Yes", " Yes"), ("No", " No")
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
    study: Study, iteration: int, cluster: int, config: EvidenceConfig = EvidenceConfig()
) -> ClusterEvidence:
    """What the explainer reads about one cluster, and the texts its explanation is scored on."""
    analyses = cluster_analyses(study, iteration)
    analyses.row_of(cluster)  # KeyError for a cluster that does not exist at this iteration
    members = analyses.members[analyses.members["cluster"] == cluster]["subcomponent"]
    activation = activation_of(
        study.array("activations/indptr.npy"),
        study.array("activations/token_index.npy"),
        study.array("activations/ci.npy"),
        members.to_numpy(),
    )
    windows = study.array("windows/token_ids.npy")
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


def auroc(positive: Sequence[float] | np.ndarray, negative: Sequence[float] | np.ndarray) -> float:
    """The probability that a random positive scores above a random negative, ties counting
    half (the Mann-Whitney U over n_pos n_neg, from average ranks)."""
    positive = np.asarray(positive, dtype=np.float64).ravel()
    negative = np.asarray(negative, dtype=np.float64).ravel()
    if positive.size == 0 or negative.size == 0:
        raise ValueError("AUROC needs at least one positive and one negative score")
    ranks = average_ranks(np.concatenate([positive, negative]))
    n_pos, n_neg = positive.size, negative.size
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    stops = np.append(starts[1:], len(values))
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + 1 + stops) / 2, stops - starts)
    return ranks


class Explainer(Protocol):
    """A model that explains clusters and judges texts against an explanation."""

    @property
    def name(self) -> str:
        """The model's name: the author of its explanations."""
        ...

    def explain(self, evidence: Sequence[ClusterEvidence]) -> list[str]:
        """One explanation per cluster: one line, never empty."""
        ...

    def judge(self, prompts: Sequence[str]) -> np.ndarray:
        """How likely the answer to each yes-or-no question is yes, in [0, 1]."""
        ...

    def pick(self, prompts: Sequence[str], choices: int) -> np.ndarray:
        """For each question answered by a number 1..`choices`, how likely each answer is:
        `[len(prompts), choices]`, rows summing to 1."""
        ...


class ExplainerError(RuntimeError):
    """An explainer that cannot be reached or answered with something unreadable."""


class LocalExplainer:
    """SmolLM2-135M-Instruct on this machine: greedy, batched with left padding."""

    def __init__(
        self, data_dir: Path, device: torch.device | str = "cpu", max_new_tokens: int = 40
    ):
        target = load_target("smollm2", Path(data_dir))
        self.device = torch.device(device)
        self.model = target.model.to(self.device).eval()
        self.tokenizer = target.tokenizer
        self.tokenizer.padding_side = "left"
        self.max_new_tokens = max_new_tokens
        self.stop_id = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.yes_ids = single_token_ids(self.tokenizer, YES_TOKENS)
        self.no_ids = single_token_ids(self.tokenizer, NO_TOKENS)
        self.number_ids = [
            single_token_ids(self.tokenizer, [str(n)])[0] for n in range(1, INTRUDER_CHOICES + 1)
        ]

    @property
    def name(self) -> str:
        return LOCAL_MODEL_NAME

    def chat(self, prompt: str) -> str:
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )

    def encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {name: tensor.to(self.device) for name, tensor in batch.items()}

    @torch.inference_mode()
    def explain(self, evidence: Sequence[ClusterEvidence]) -> list[str]:
        if not evidence:
            return []
        prompts = [f"{self.chat(explanation_prompt(e))}{ANSWER_PREFIX}" for e in evidence]
        batch = self.encode(prompts)
        generated = self.model.generate(
            **batch,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.stop_id,
        )
        answers = self.tokenizer.batch_decode(
            generated[:, batch["input_ids"].shape[1] :], skip_special_tokens=True
        )
        return [one_line(answer) for answer in answers]

    @torch.inference_mode()
    def next_token_logits(self, prompts: Sequence[str]) -> torch.Tensor:
        """The logits of the token that would answer each prompt, `[len(prompts), vocab]`."""
        batch = self.encode([self.chat(prompt) for prompt in prompts])
        positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        logits = self.model(**batch, position_ids=positions, logits_to_keep=1).logits
        return logits[:, -1].float()

    def judge(self, prompts: Sequence[str]) -> np.ndarray:
        if not prompts:
            return np.zeros(0)
        logits = self.next_token_logits(prompts)
        yes = torch.logsumexp(logits[:, self.yes_ids], dim=-1)
        no = torch.logsumexp(logits[:, self.no_ids], dim=-1)
        return torch.sigmoid(yes - no).cpu().numpy().astype(np.float64)

    def pick(self, prompts: Sequence[str], choices: int) -> np.ndarray:
        if not prompts:
            return np.zeros((0, choices))
        logits = self.next_token_logits(prompts)[:, self.number_ids[:choices]]
        return torch.softmax(logits, dim=-1).cpu().numpy().astype(np.float64)


def single_token_ids(tokenizer, words: Sequence[str]) -> list[int]:
    """The ids of the words that are one token each (at least one must be)."""
    ids = [tokenizer.encode(w, add_special_tokens=False) for w in words]
    single = [found[0] for found in ids if len(found) == 1]
    if not single:
        raise ExplainerError(f"none of {list(words)} is a single token of this tokenizer")
    return single


@dataclass(frozen=True)
class OpenAICompatibleExplainer:
    """A chat-completions endpoint (`POST <api>/v1/chat/completions`), temperature 0."""

    api: str
    model: str
    key: str | None = field(default=None, repr=False)  # sent as a bearer token, never printed
    timeout: float = 60.0
    max_tokens: int = 40

    @property
    def name(self) -> str:
        return self.model

    @property
    def url(self) -> str:
        return f"{self.api.rstrip('/').removesuffix('/v1')}/v1/chat/completions"

    def complete(self, prompt: str, max_tokens: int) -> str:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0,
        }
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply = json.load(response)
            return str(reply["choices"][0]["message"]["content"] or "")
        except urllib.error.HTTPError as error:
            raise ExplainerError(f"{self.url}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            raise ExplainerError(f"{self.url}: {getattr(error, 'reason', error)}") from None
        except (ValueError, KeyError, IndexError, TypeError):
            raise ExplainerError(f"{self.url}: not a chat-completions reply") from None

    def explain(self, evidence: Sequence[ClusterEvidence]) -> list[str]:
        return [one_line(self.complete(explanation_prompt(e), self.max_tokens)) for e in evidence]

    def judge(self, prompts: Sequence[str]) -> np.ndarray:
        answers = [self.complete(prompt, 3) for prompt in prompts]
        return np.array([answer_value(answer) for answer in answers], dtype=np.float64)

    def pick(self, prompts: Sequence[str], choices: int) -> np.ndarray:
        return np.array([answer_choice(self.complete(p, 3), choices) for p in prompts]).reshape(
            len(prompts), choices
        )


def answer_value(answer: str) -> float:
    """1 for an answer starting with yes, 0 for no, UNCLEAR_ANSWER otherwise."""
    word = answer.strip().lstrip("\"'*").lower()
    if word.startswith("yes"):
        return 1.0
    if word.startswith("no"):
        return 0.0
    return UNCLEAR_ANSWER


def answer_choice(answer: str, choices: int) -> np.ndarray:
    """A one-hot row for the first number 1..`choices` in an answer, uniform without one."""
    found = re.search(r"\d+", answer)
    row = np.full(choices, 1.0 / choices)
    if found and 1 <= int(found.group()) <= choices:
        row = np.zeros(choices)
        row[int(found.group()) - 1] = 1.0
    return row


def explainer_from_env(
    data_dir: Path, device: torch.device | str = "cpu", env: Mapping[str, str] | None = None
) -> Explainer:
    """The endpoint named by ATLAS_EXPLAIN_API (with ATLAS_EXPLAIN_MODEL and, if it needs one,
    ATLAS_EXPLAIN_KEY) when set, else the local SmolLM2."""
    env = os.environ if env is None else env
    api = env.get("ATLAS_EXPLAIN_API", "").strip()
    if not api:
        return LocalExplainer(data_dir, device)
    if not api.startswith(("http://", "https://")):
        raise ValueError(f"ATLAS_EXPLAIN_API={api!r}: expected an http:// or https:// URL")
    model = env.get("ATLAS_EXPLAIN_MODEL", "").strip()
    if not model:
        raise ValueError("ATLAS_EXPLAIN_MODEL: set it to the model's name (ATLAS_EXPLAIN_API is)")
    return OpenAICompatibleExplainer(api, model, env.get("ATLAS_EXPLAIN_KEY") or None)


def detection_score(
    explainer: Explainer, explanation: str, activating: Sequence[str], non_activating: Sequence[str]
) -> float | None:
    """AUROC of the judge's answers, activating texts against non-activating ones; None when
    either side has no text."""
    if not activating or not non_activating:
        return None
    texts = (*activating, *non_activating)
    judged = explainer.judge([detection_prompt(explanation, text) for text in texts])
    return auroc(judged[: len(activating)], judged[len(activating) :])


def fuzzing_score(
    explainer: Explainer, explanation: str, rightly: Sequence[str], wrongly: Sequence[str]
) -> float | None:
    """AUROC of the judge's answers, rightly marked texts against wrongly marked ones."""
    if not rightly or not wrongly:
        return None
    judged = explainer.judge([fuzzing_prompt(explanation, t) for t in (*rightly, *wrongly)])
    return auroc(judged[: len(rightly)], judged[len(rightly) :])


def intruder_score(
    explainer: Explainer, trials: Sequence[tuple[Sequence[str], int]]
) -> float | None:
    """The mean probability the judge gives the intruder's number; None without trials."""
    if not trials:
        return None
    picked = explainer.pick([intruder_prompt(texts) for texts, _ in trials], INTRUDER_CHOICES)
    return float(np.mean([picked[i, at] for i, (_, at) in enumerate(trials)]))


def explanation_scores(
    explainer: Explainer, evidence: ClusterEvidence, explanation: str, decoy: str | None
) -> tuple[Score, ...]:
    """Detection and fuzzing of `explanation`, each beside the same test of `decoy` (a random
    other cluster's explanation), and the intruder score beside chance."""
    scores = []
    for measure, score_of, texts in (
        ("detection", detection_score, (evidence.activating, evidence.non_activating)),
        ("fuzzing", fuzzing_score, (evidence.rightly_marked, evidence.wrongly_marked)),
    ):
        value = score_of(explainer, explanation, *texts)
        if value is not None:
            baseline = None if decoy is None else score_of(explainer, decoy, *texts)
            scores.append(Score(measure, value, baseline))
    intruder = intruder_score(explainer, evidence.intruder_trials)
    if intruder is not None:
        scores.append(Score("intruder", intruder, 1.0 / INTRUDER_CHOICES))
    return tuple(scores)


def decoys(
    explanations: Mapping[int, str], others: Sequence[str], seed: int
) -> dict[int, str | None]:
    """For each cluster, a random explanation of another: from `explanations` (this batch's)
    when it holds more than one, else from `others` (explanations stored before)."""
    chosen: dict[int, str | None] = {}
    for cluster, text in explanations.items():
        pool = [t for c, t in explanations.items() if c != cluster and t != text]
        pool = pool or [t for t in others if t != text]
        rng = np.random.default_rng([seed, cluster, 3])
        chosen[cluster] = pool[int(rng.integers(0, len(pool)))] if pool else None
    return chosen


@dataclass
class ExplainReport:
    author: str
    scores: dict[int, tuple[Score, ...]] = field(default_factory=dict)  # cluster -> its scores
    skipped: list[int] = field(default_factory=list)  # explained by this author before
    weak_contrast: list[int] = field(default_factory=list)  # fire in their non-activating texts
    seconds: float = 0.0

    @property
    def explained(self) -> list[int]:
        return list(self.scores)

    def means(self) -> dict[str, tuple[float, float | None]]:
        """Per measure, the mean score over the clusters that have one, and the mean of their
        baselines (None where no baseline was measured)."""
        means = {}
        for measure in MEASURES:
            found = [s for scores in self.scores.values() for s in scores if s.measure == measure]
            if found:
                baselines = [s.baseline for s in found if s.baseline is not None]
                means[measure] = (
                    float(np.mean([s.value for s in found])),
                    float(np.mean(baselines)) if baselines else None,
                )
        return means


def clusters_to_explain(
    study: Study,
    iteration: int,
    clusters: Sequence[int] | None,
    limit: int | None,
    sample: int | None = None,
) -> list[int]:
    """The named clusters (all that fire at `iteration` by default), by id: `sample` of them
    drawn at random (seeded, the same each time), then the first `limit`."""
    for name, count in (("limit", limit), ("sample", sample)):
        if count is not None and count < 0:
            raise ValueError(f"{name} {count}: expected a number of clusters, 0 or more")
    table = cluster_analyses(study, iteration).clusters
    firing = set(table.loc[table["firing_frequency"] > 0, "cluster"].tolist())
    if clusters is None:
        chosen = sorted(firing)
    else:
        chosen = sorted(set(clusters))
        missing = [c for c in chosen if c not in set(table["cluster"].tolist())]
        if missing:
            raise ValueError(f"no cluster(s) {missing} at iteration {iteration} of {study.name}")
        silent = [c for c in chosen if c not in firing]
        if silent:
            raise ValueError(f"cluster(s) {silent} never fire: there is nothing to explain")
    if sample is not None and sample < len(chosen):
        drawn = np.random.default_rng(0).choice(len(chosen), size=sample, replace=False)
        chosen = [chosen[i] for i in sorted(drawn)]
    return chosen if limit is None else chosen[:limit]


def explain_study(
    study: Study,
    iteration: int,
    store: ExplanationStore,
    explainer: Explainer,
    clusters: Sequence[int] | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    progress: bool = True,
    config: EvidenceConfig = EvidenceConfig(),
    sample: int | None = None,
) -> ExplainReport:
    """Explain and score clusters in batches, storing each batch as soon as it is done; clusters
    this explainer already explained are skipped, so an interrupted run resumes."""
    if batch_size < 1:
        raise ValueError(f"batch size {batch_size}: expected 1 or more")
    started = time.perf_counter()
    report = ExplainReport(author=explainer.name)
    todo = []
    for cluster in clusters_to_explain(study, iteration, clusters, limit, sample):
        if store.exists(study.name, iteration, "cluster", str(cluster), explainer.name):
            report.skipped.append(cluster)
        else:
            todo.append(cluster)
    others = [
        e.text
        for e in store.of_study(study.name, iteration)
        if e.author == explainer.name and e.text != NO_EXPLANATION
    ]
    with tqdm(total=len(todo), desc="explain", unit=" clusters", disable=not progress) as bar:
        for first in range(0, len(todo), batch_size):
            batch = todo[first : first + batch_size]
            evidence = [cluster_evidence(study, iteration, c, config) for c in batch]
            texts = dict(zip(batch, explainer.explain(evidence), strict=True))
            explained = {c: t for c, t in texts.items() if t != NO_EXPLANATION}
            decoy_of = decoys(explained, others, config.seed)
            for found in evidence:
                text = texts[found.cluster]
                scores: tuple[Score, ...] = ()
                if text != NO_EXPLANATION:
                    scores = explanation_scores(explainer, found, text, decoy_of[found.cluster])
                detection = next((s.value for s in scores if s.measure == "detection"), None)
                store.put(
                    Explanation(
                        study=study.name,
                        iteration=iteration,
                        kind="cluster",
                        target=str(found.cluster),
                        source="model",
                        author=explainer.name,
                        text=text,
                        score=detection,
                        scores=scores,
                    )
                )
                report.scores[found.cluster] = scores
                if found.weak_contrast:
                    report.weak_contrast.append(found.cluster)
                bar.update(1)
            others.extend(explained.values())
    report.seconds = time.perf_counter() - started
    return report
