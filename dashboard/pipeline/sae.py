"""Train a TopK sparse autoencoder (Gao et al. 2024) on activations such as the residual stream.

Each row is encoded as `topk(relu(W_enc (x - b_dec) + b_enc))` and decoded with unit-norm decoder
rows plus `b_dec`; the loss is the mean squared error, minimised with Adam. Training happens on
activations divided by their root-mean-square deviation, and the stored biases are scaled back,
so the result applies to the activations as given.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from dashboard.analysis.sae_features import TopKSae, encode, fraction_of_variance_unexplained


@dataclass(frozen=True)
class SaeConfig:
    expansion: int = 8  # features = expansion * d_model
    k: int = 16  # active features per row
    steps: int = 1000
    batch_size: int = 512
    learning_rate: float = 2e-3
    seed: int = 0
    heldout_fraction: float = 0.05

    def __post_init__(self) -> None:
        if self.expansion < 1 or self.k < 1 or self.steps < 0 or self.batch_size < 1:
            raise ValueError("expansion, k and batch_size must be >= 1 and steps >= 0")
        if not 0 < self.heldout_fraction < 1:
            raise ValueError(f"heldout_fraction {self.heldout_fraction} is outside (0, 1)")

    def to_json(self) -> dict:
        return asdict(self)


def train_topk_sae(activations: np.ndarray, config: SaeConfig, device: torch.device) -> TopKSae:
    """Fit on the first rows of `activations` `[n, d_model]`; the report measures the last
    `heldout_fraction` of rows, never trained on."""
    started = time.perf_counter()
    n_rows, d_model = activations.shape
    n_features = config.expansion * d_model
    k = min(config.k, n_features)
    n_train = n_rows - max(1, round(n_rows * config.heldout_fraction))
    if n_train < 1:
        raise ValueError(f"{n_rows} rows leave none to train on")
    train = np.asarray(activations[:n_train], dtype=np.float32)
    mean = train.mean(axis=0)
    scale = float(np.sqrt(((train - mean) ** 2).sum(axis=1).mean() / d_model)) or 1.0

    generator = np.random.default_rng(config.seed)
    torch_generator = torch.Generator().manual_seed(config.seed)
    initial_decoder = torch.randn(n_features, d_model, generator=torch_generator)
    initial_decoder /= initial_decoder.norm(dim=1, keepdim=True)
    decoder = initial_decoder.clone().to(device).requires_grad_(True)
    encoder = initial_decoder.T.clone().to(device).requires_grad_(True)
    encoder_bias = torch.zeros(n_features, device=device, requires_grad=True)
    decoder_bias = torch.from_numpy(mean / scale).to(device).requires_grad_(True)
    optimizer = torch.optim.Adam(
        [encoder, encoder_bias, decoder, decoder_bias], lr=config.learning_rate
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 1.0 - step / max(1, config.steps)
    )
    loss_value = float("nan")
    for _ in tqdm(range(config.steps), desc="sae", leave=False):
        rows = generator.integers(0, n_train, config.batch_size)
        x = torch.from_numpy(train[rows] / scale).to(device)
        pre = (x - decoder_bias) @ encoder + encoder_bias
        top_values, top_indices = pre.topk(k, dim=1)
        features = torch.zeros_like(pre).scatter(1, top_indices, top_values.relu())
        reconstruction = features @ decoder + decoder_bias
        loss = ((reconstruction - x) ** 2).sum(dim=1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():  # keep only the gradient that does not stretch a decoder row
            decoder.grad -= (decoder.grad * decoder).sum(dim=1, keepdim=True) * decoder
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            decoder /= decoder.norm(dim=1, keepdim=True)
        loss_value = loss.item() / d_model  # the scaled data has unit variance per dimension

    sae = TopKSae(
        encoder=encoder.detach().cpu().numpy(),
        encoder_bias=encoder_bias.detach().cpu().numpy() * scale,
        decoder=decoder.detach().cpu().numpy(),
        decoder_bias=decoder_bias.detach().cpu().numpy() * scale,
        k=k,
        report={},
    )
    heldout = np.asarray(activations[n_train:], dtype=np.float32)
    indices, values = encode(sae, heldout)
    fired = np.zeros(n_features, dtype=bool)
    fired[indices[values > 0]] = True
    sae.report = {
        "train_rows": n_train,
        "heldout_rows": n_rows - n_train,
        "n_features": n_features,
        "final_train_fvu": loss_value,
        "heldout_fvu": fraction_of_variance_unexplained(sae, heldout),
        "dead_fraction": float(1.0 - fired.mean()),
        "seconds": time.perf_counter() - started,
        "config": config.to_json(),
    }
    return sae
