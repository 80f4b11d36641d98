"""Tokenizers trained on the corpus, and text cut into fixed-length token windows."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

END_OF_TEXT = "<|endoftext|>"


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (GPT-2 style) trained on `texts`."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=END_OF_TEXT, bos_token=END_OF_TEXT, unk_token=None
    )


def token_stream(tokenizer: PreTrainedTokenizerBase, documents: list[str]) -> np.ndarray:
    """All documents tokenized and joined, each followed by the end-of-text token if it has one."""
    separator = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    encoded = tokenizer(documents, add_special_tokens=False)["input_ids"]
    pieces = [np.asarray(ids + separator, dtype=np.int32) for ids in encoded]
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)


def cut_windows(
    stream: np.ndarray, window_length: int, max_windows: int | None = None
) -> np.ndarray:
    """Consecutive windows `[n_windows, window_length]`; the remainder is dropped."""
    n_windows = len(stream) // window_length
    if max_windows is not None:
        n_windows = min(n_windows, max_windows)
    return stream[: n_windows * window_length].reshape(n_windows, window_length)
