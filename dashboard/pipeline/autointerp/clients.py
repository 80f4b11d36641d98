"""The explaining and judging models: the local one (SmolLM2, judging by its next-token
logits) and any OpenAI-compatible endpoint (judging by its answer's text)."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from dashboard.models.loading import load_target
from dashboard.pipeline.autointerp.evidence import INTRUDER_CHOICES, ClusterEvidence
from dashboard.pipeline.autointerp.prompts import ANSWER_PREFIX, explanation_prompt, one_line

YES_TOKENS, NO_TOKENS = ("Yes", " Yes"), ("No", " No")
LOCAL_MODEL_NAME = "SmolLM2-135M-Instruct"
UNCLEAR_ANSWER = 0.5  # an API answer that is neither yes nor no


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
