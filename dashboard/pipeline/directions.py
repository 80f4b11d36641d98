"""Each subcomponent's read and write direction, composed into the residual stream.

A subcomponent reads `V[:, c]` from its module's input and writes `U[c]` into its output. Where
that space is not the residual stream, the direction is carried there through the paired
weights, and `path` says how (for example a value write goes through the output projection).
Read directions include the gain of the norm in front of the module, so they are directions of
the raw residual stream at point `layer`; write directions live at point `layer + 1`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from dashboard.pipeline.anatomy import Anatomy

ATTENTION_NAMES = ("self_attn", "attn")
MLP_IN = ("up_proj", "c_fc")  # the linear path into an MLP's hidden layer
MLP_OUT = ("down_proj", "c_proj")


@dataclass(frozen=True)
class Direction:
    vector: torch.Tensor | None  # [C, d_model], or None where no path to the residual exists
    point: int  # residual point it lives at
    path: str


@dataclass(frozen=True)
class ResidualDirections:
    read: np.ndarray  # [n_subcomponents, d_model] float32, NaN rows where there is no path
    write: np.ndarray
    table: pd.DataFrame  # subcomponent, read_point, read_path, write_point, write_path


def split_path(anatomy: Anatomy, path: str) -> tuple[int, str, str]:
    """`model.layers.2.self_attn.v_proj` -> (2, `self_attn`, `v_proj`)."""
    prefix = f"{anatomy.block_prefix}."
    if not path.startswith(prefix):
        raise ValueError(f"{path}: not inside the blocks {anatomy.block_prefix}")
    layer, *rest = path[len(prefix) :].split(".")
    return int(layer), ".".join(rest[:-1]), rest[-1]


def per_head(anatomy: Anatomy, vectors: torch.Tensor, kv: bool) -> torch.Tensor:
    """`[C, heads * head_dim]` -> `[C, heads, head_dim]`."""
    heads = anatomy.n_kv_heads if kv else anatomy.n_heads
    return vectors.reshape(vectors.shape[0], heads, anatomy.head_dim)


def kv_head_of(anatomy: Anatomy) -> torch.Tensor:
    """The key/value head each query head reads (grouped-query attention)."""
    return torch.arange(anatomy.n_heads) // (anatomy.n_heads // anatomy.n_kv_heads)


def through_query_heads(
    anatomy: Anatomy, kv_vectors: torch.Tensor, weight: torch.Tensor, transpose: bool
) -> torch.Tensor:
    """Carry `[C, kv_heads*hd]` vectors through a `[*, heads*hd]`-sided weight, head by head,
    summing over the query heads that share each key/value head."""
    expanded = per_head(anatomy, kv_vectors, kv=True)[:, kv_head_of(anatomy)]  # [C, H, hd]
    flat = expanded.reshape(kv_vectors.shape[0], -1)  # [C, H*hd]
    return flat @ (weight if transpose else weight.T)


def through_kv_heads(
    anatomy: Anatomy, query_vectors: torch.Tensor, kv_weight: torch.Tensor
) -> torch.Tensor:
    """`[C, H*hd]` query-space vectors back through a `[kv*hd, d]` weight: `Σ_h W[kv(h)]ᵀ u_h`."""
    heads = per_head(anatomy, query_vectors, kv=False)  # [C, H, hd]
    kv_weight = kv_weight.reshape(anatomy.n_kv_heads, anatomy.head_dim, -1)[kv_head_of(anatomy)]
    return torch.einsum("chd,hde->ce", heads, kv_weight)


def sibling_weights(
    anatomy: Anatomy, layer: int, block_part: str
) -> Callable[[str], torch.Tensor | None]:
    """Look up the other linear modules of the same attention or MLP block by name."""

    def weight(name: str) -> torch.Tensor | None:
        return anatomy.weight(layer, f"{block_part}.{name}")

    return weight


def read_direction(anatomy: Anatomy, path: str, V: torch.Tensor) -> Direction:
    layer, block_part, name = split_path(anatomy, path)
    attention = block_part in ATTENTION_NAMES
    reads = V.T  # [C, d_in]
    gain = anatomy.input_norm_weight(layer, mlp=not attention)
    weight = sibling_weights(anatomy, layer, block_part)
    if reads.shape[1] == anatomy.d_model and name not in ("o_proj", *MLP_OUT):
        return Direction(reads * gain, layer, "input norm gain ⊙ read")
    if name == "o_proj" and (values := weight("v_proj")) is not None:
        return Direction(
            through_kv_heads(anatomy, reads, values) * gain,
            layer,
            "value heads: v_projᵀ, then input norm gain",
        )
    for inner in MLP_IN:
        if not attention and name in MLP_OUT and (into := weight(inner)) is not None:
            return Direction(reads @ into * gain, layer, f"MLP hidden: {inner}ᵀ, then norm gain")
    return Direction(None, layer, f"no residual path for the input of {name}")


def write_direction(anatomy: Anatomy, path: str, U: torch.Tensor) -> Direction:
    layer, block_part, name = split_path(anatomy, path)
    attention = block_part in ATTENTION_NAMES
    weight = sibling_weights(anatomy, layer, block_part)
    if U.shape[1] == anatomy.d_model and name in ("o_proj", *MLP_OUT):
        return Direction(U, layer + 1, "direct")
    if name == "v_proj" and (output := weight("o_proj")) is not None:
        return Direction(
            through_query_heads(anatomy, U, output, transpose=False),
            layer + 1,
            "value heads through o_proj",
        )
    if not attention and name in ("gate_proj", *MLP_IN):
        for out in MLP_OUT:
            if (down := weight(out)) is not None and down.shape[1] == U.shape[1]:
                return Direction(U @ down.T, layer + 1, f"MLP hidden through {out}")
    gain = anatomy.input_norm_weight(layer, mlp=False)
    if name == "q_proj" and (keys := weight("k_proj")) is not None:
        return Direction(
            through_kv_heads(anatomy, U, keys) * gain,
            layer,
            "no residual write; the keys it matches: k_projᵀ, norm gain (RoPE ignored)",
        )
    if name == "k_proj" and (queries := weight("q_proj")) is not None:
        return Direction(
            through_query_heads(anatomy, U, queries, transpose=True) * gain,
            layer,
            "no residual write; the queries it matches: q_projᵀ, norm gain (RoPE ignored)",
        )
    return Direction(None, layer + 1, f"no residual path for the output of {name}")


@torch.no_grad()
def residual_directions(
    anatomy: Anatomy, components: dict[str, tuple[torch.Tensor, torch.Tensor]]
) -> ResidualDirections:
    """`components = {module path: (V [d_in, C], U [C, d_out])}` in the study's label order."""
    reads, writes, rows = [], [], []
    for path, (V, U) in components.items():
        read = read_direction(anatomy, path, V.detach().float().cpu())
        write = write_direction(anatomy, path, U.detach().float().cpu())
        count = V.shape[1]
        for direction, out in ((read, reads), (write, writes)):
            vectors = direction.vector
            if vectors is None:
                vectors = torch.full((count, anatomy.d_model), float("nan"))
            out.append(vectors.float().cpu().numpy())
        rows.append(
            pd.DataFrame(
                {
                    "read_point": np.full(count, read.point, dtype=np.int32),
                    "read_path": read.path,
                    "write_point": np.full(count, write.point, dtype=np.int32),
                    "write_path": write.path,
                }
            )
        )
    table = pd.concat(rows, ignore_index=True)
    table.insert(0, "subcomponent", np.arange(len(table), dtype=np.int32))
    return ResidualDirections(np.concatenate(reads), np.concatenate(writes), table)
