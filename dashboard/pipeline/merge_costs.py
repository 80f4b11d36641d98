"""The MDL merge cost of goodfire-ai/spd (`compute_merge_costs`), written out per pair.

For groups i, j with activation counts s (normalised by the number of tokens), coactivation c,
sizes r (subcomponents per group) and k groups:

    coact_or  = s_i + s_j - c_ij
    s_other   = (Σ s - s_i - s_j) · log2((k - 1) / k)
    bits      = coact_or · log2(k - 1) - s_i · log2(k) - s_j · log2(k)
    penalty   = coact_or · (r_i + r_j) - s_i · r_i - s_j · r_j
    cost      = s_other + bits + alpha · penalty

Lower is cheaper. Expanding the logarithms, the terms in s_i + s_j cancel and

    cost = Σ s · log2((k - 1) / k)  -  c_ij · log2(k - 1)  +  alpha · penalty

The first term is the same for every pair, so the ranking of pairs within one iteration is the
ranking of `pair_part = alpha · penalty - c_ij · log2(k - 1)`, which for two unchanged groups can
only rise as k falls: the property the lazy heap of `clustering` relies on.
"""

from __future__ import annotations

import numpy as np


def cost_terms(
    s_i: np.ndarray,
    s_j: np.ndarray,
    c_ij: np.ndarray,
    r_i: np.ndarray,
    r_j: np.ndarray,
    s_total: float,
    k: int,
    alpha: float,
) -> np.ndarray:
    coact_or = s_i + s_j - c_ij
    s_other = (s_total - s_i - s_j) * np.log2((k - 1) / k)
    bits = coact_or * np.log2(k - 1) - s_i * np.log2(k) - s_j * np.log2(k)
    penalty = coact_or * (r_i + r_j) - s_i * r_i - s_j * r_j
    return s_other + bits + alpha * penalty


def pair_part(
    s_i: np.ndarray,
    s_j: np.ndarray,
    c_ij: np.ndarray,
    r_i: np.ndarray,
    r_j: np.ndarray,
    k: int,
    alpha: float,
) -> np.ndarray:
    """The pair-dependent part of the cost (the full cost minus a per-iteration constant)."""
    coact_or = s_i + s_j - c_ij
    penalty = coact_or * (r_i + r_j) - s_i * r_i - s_j * r_j
    return alpha * penalty - c_ij * np.log2(k - 1)


def cost_matrix(coact: np.ndarray, sizes: np.ndarray, n_tokens: int, alpha: float) -> np.ndarray:
    """All pairs at once, from a `[k, k]` coactivation-count matrix (diagonal = counts)."""
    normalised = coact / n_tokens
    s = np.diag(normalised)
    return cost_terms(
        s[:, None],
        s[None, :],
        normalised,
        sizes[:, None],
        sizes[None, :],
        float(s.sum()),
        len(s),
        alpha,
    )


def cost_row(
    i: int,
    coact_row: np.ndarray,
    s: np.ndarray,
    sizes: np.ndarray,
    s_total: float,
    n_tokens: int,
    alpha: float,
) -> np.ndarray:
    """Costs of merging group i with every group; inputs are over the current groups only."""
    k = len(s)
    return cost_terms(s[i], s, coact_row / n_tokens, sizes[i], sizes, s_total, k, alpha)
