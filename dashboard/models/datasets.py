"""Token windows of the corpus in a given tokenizer, split into training and held-out text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from transformers import PreTrainedTokenizerBase

from dashboard.models.corpus import split_documents, wiki_documents
from dashboard.models.tokens import cut_windows, token_stream

HELDOUT_FRACTION = 0.05


@dataclass(frozen=True)
class CorpusWindows:
    train: np.ndarray  # [n_windows, window_length] int32
    heldout: np.ndarray


def corpus_windows(
    tokenizer: PreTrainedTokenizerBase,
    window_length: int,
    seed: int = 0,
    max_train_documents: int | None = None,
    max_heldout_windows: int | None = None,
) -> CorpusWindows:
    """The same document split (by seed) whichever tokenizer cuts it."""
    split = split_documents(wiki_documents(), HELDOUT_FRACTION, seed)
    train = cut_windows(token_stream(tokenizer, split.train[:max_train_documents]), window_length)
    heldout = cut_windows(
        token_stream(tokenizer, split.heldout), window_length, max_windows=max_heldout_windows
    )
    if len(train) == 0 or len(heldout) == 0:
        raise ValueError(f"the corpus is too small for windows of {window_length} tokens")
    return CorpusWindows(train, heldout)
