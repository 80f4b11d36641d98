"""Train the small Llama-architecture demo model (and the tiny `micro` one) on the corpus."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import LlamaConfig, LlamaForCausalLM

from dashboard.atomic import draft_directory
from dashboard.models.corpus import split_documents, wiki_documents
from dashboard.models.datasets import HELDOUT_FRACTION, corpus_windows
from dashboard.models.schedule import warmup_cosine
from dashboard.models.tokens import train_bpe_tokenizer

TRAINING_REPORT = "training_report.json"


@dataclass(frozen=True)
class TinyLlamaConfig:
    """Architecture and training schedule of a model trained here."""

    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    d_mlp: int
    window_length: int
    batch_size: int
    steps: int
    learning_rate: float
    warmup_steps: int
    tokenizer_documents: int | None = None  # documents used to train the tokenizer (None: all)
    train_documents: int | None = None  # documents used to train the model (None: all)
    seed: int = 0


PRESETS: dict[str, TinyLlamaConfig] = {
    "micro": TinyLlamaConfig(
        vocab_size=512,
        d_model=32,
        n_layers=2,
        n_heads=2,
        d_mlp=64,
        window_length=32,
        batch_size=16,
        steps=300,
        learning_rate=1e-2,
        warmup_steps=10,
        tokenizer_documents=600,
        train_documents=600,
    ),
    "demo": TinyLlamaConfig(
        vocab_size=4096,
        d_model=128,
        n_layers=2,
        n_heads=4,
        d_mlp=512,
        window_length=128,
        batch_size=32,
        steps=500,
        learning_rate=3e-3,
        warmup_steps=40,
    ),
}


def unigram_entropy_nats(stream: np.ndarray, vocab_size: int) -> float:
    counts = np.bincount(stream, minlength=vocab_size).astype(np.float64)
    probabilities = counts[counts > 0] / counts.sum()
    return float(-(probabilities * np.log(probabilities)).sum())


def llama_config(config: TinyLlamaConfig, eos_token_id: int) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.d_model,
        intermediate_size=config.d_mlp,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_heads,
        max_position_embeddings=config.window_length,
        tie_word_embeddings=True,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        rms_norm_eps=1e-5,
    )


@torch.no_grad()
def mean_next_token_loss(model: LlamaForCausalLM, windows: np.ndarray, batch_size: int) -> float:
    """Mean next-token cross-entropy (nats) over every position of every window."""
    total, count = 0.0, 0
    for start in range(0, len(windows), batch_size):
        batch = torch.from_numpy(windows[start : start + batch_size]).long()
        loss = model(input_ids=batch, labels=batch).loss
        n_predictions = batch.shape[0] * (batch.shape[1] - 1)
        total += float(loss) * n_predictions
        count += n_predictions
    return total / count


def train_tiny_llama(out_dir: Path, config: TinyLlamaConfig, overwrite: bool = False) -> dict:
    """Train tokenizer and model, write a Hugging Face model directory; return the report."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already exists; pass overwrite=True (--force) to retrain")
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    generator = np.random.default_rng(config.seed)

    split = split_documents(wiki_documents(), HELDOUT_FRACTION, config.seed)
    tokenizer = train_bpe_tokenizer(
        split.train[: config.train_documents][: config.tokenizer_documents], config.vocab_size
    )
    windows = corpus_windows(
        tokenizer,
        config.window_length,
        config.seed,
        max_train_documents=config.train_documents,
        max_heldout_windows=256,
    )
    train_windows, heldout_windows = windows.train, windows.heldout

    model = LlamaForCausalLM(llama_config(config, tokenizer.eos_token_id))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    progress = tqdm(range(config.steps), desc="train model", unit="step", mininterval=1.0)
    for step in progress:
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(
                step, config.steps, config.warmup_steps, config.learning_rate, floor=0.1
            )
        rows = generator.integers(0, len(train_windows), size=config.batch_size)
        batch = torch.from_numpy(train_windows[rows]).long()
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        progress.set_postfix(loss=f"{float(loss.detach()):.3f}", refresh=False)

    model.eval()
    report = {
        "config": asdict(config),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_tokens": int(train_windows.size),
        "tokens_seen": config.steps * config.batch_size * config.window_length,
        "heldout_tokens": int(heldout_windows.size),
        "heldout_loss": mean_next_token_loss(model, heldout_windows, config.batch_size),
        "unigram_entropy": unigram_entropy_nats(train_windows.ravel(), config.vocab_size),
        "seconds": round(time.perf_counter() - started, 1),
    }
    with draft_directory(out_dir) as draft:
        model.save_pretrained(draft)
        tokenizer.save_pretrained(draft)
        (draft / TRAINING_REPORT).write_text(json.dumps(report, indent=2) + "\n")
    return report
