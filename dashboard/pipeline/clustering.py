"""Greedy merging of subcomponents that fire together, under spd's MDL cost.

Activations are binarised (CI > activation_threshold) and dead subcomponents dropped. The
coactivation counts of the current groups live in one dense `[n, n]` int32 matrix (1.6 GB at
20k), updated per merge from the tokens both merged groups fire on; per-group token sets are
sorted arrays. Modes:

- `deterministic`: always the cheapest pair, ties by (smaller id, larger id). A heap holds each
  group's cheapest partner, keyed by the pair-dependent part of the cost, which can only rise
  while neither group changes; stale keys are lower bounds and are refreshed lazily.
- `range` and `mcmc`: spd's samplers, drawing from the full cost matrix each merge (O(k²) per
  merge: meant for a few thousand subcomponents).
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from dashboard.pipeline.merge_costs import cost_matrix, cost_terms, pair_part
from dashboard.pipeline.sparse_store import ColumnStore

MODES = ("deterministic", "range", "mcmc")
COACT_BLOCK = 2048


@dataclass(frozen=True)
class ClusteringConfig:
    activation_threshold: float = 0.1
    alpha: float = 1.0
    mode: str = "deterministic"
    range_threshold: float = 0.05
    temperature: float = 1.0
    seed: int = 0
    max_tokens: int | None = None  # cluster on the first N harvested tokens (None: all)

    def __post_init__(self) -> None:
        if not 0 < self.activation_threshold < 1:
            raise ValueError(f"activation threshold {self.activation_threshold} is outside (0, 1)")
        if self.mode not in MODES:
            raise ValueError(f"clustering mode {self.mode!r}: expected one of {', '.join(MODES)}")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class MergeResult:
    initial_groups: np.ndarray  # [n_subcomponents] int32; -1 for dead
    merges: pd.DataFrame  # iteration, group_a, group_b, cost, k_groups, mdl_total
    default_iteration: int  # the iteration with the lowest MDL total


def binarised_columns(
    store: ColumnStore, threshold: float, n_tokens: int
) -> tuple[np.ndarray, sp.csc_matrix]:
    """Alive subcomponent indices and the `[tokens, alive]` 0/1 matrix of CI above threshold,
    over the first `n_tokens` tokens.

    The store is already ordered by subcomponent and position, so the kept entries are the CSC
    arrays as they stand: no sort, and 8 bytes per entry.
    """
    keep = (np.asarray(store.ci) > threshold) & (np.asarray(store.token_index) < n_tokens)
    kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
    counts = kept_before[store.indptr[1:]] - kept_before[store.indptr[:-1]]
    alive = np.flatnonzero(counts)
    indptr = np.concatenate([[0], np.cumsum(counts[alive])]).astype(np.int64)
    indices = np.asarray(store.token_index)[keep]
    del keep, kept_before
    data = np.ones(len(indices), dtype=np.float32)
    return alive, sp.csc_matrix((data, indices, indptr), shape=(n_tokens, len(alive)))


def coactivation_counts(matrix: sp.csc_matrix) -> np.ndarray:
    """`XᵀX` as a dense int32 matrix, a block of columns at a time (the product stays small)."""
    n = matrix.shape[1]
    counts = np.zeros((n, n), dtype=np.int32)
    transposed = matrix.T.tocsr()
    for start in range(0, n, COACT_BLOCK):
        block = transposed[start : start + COACT_BLOCK] @ matrix
        counts[start : start + COACT_BLOCK] = block.toarray().astype(np.int32)
    return counts


class TokenSet:
    """The tokens a group fires on: a sorted array while small, a packed bitmap once large."""

    DENSE_FRACTION = 1 / 64  # above this share of all tokens, a bitmap is smaller and faster

    def __init__(self, n_tokens: int, positions: np.ndarray | None, bits: np.ndarray | None):
        self.n_tokens = n_tokens
        self.positions = positions
        self.bits = bits

    @classmethod
    def from_sorted(cls, positions: np.ndarray, n_tokens: int) -> TokenSet:
        if len(positions) > n_tokens * cls.DENSE_FRACTION:
            return cls(n_tokens, None, cls.pack(positions, n_tokens))
        return cls(n_tokens, positions, None)  # a view: no copy of the sparse store

    @staticmethod
    def pack(positions: np.ndarray, n_tokens: int) -> np.ndarray:
        flags = np.zeros(n_tokens, dtype=bool)
        flags[positions] = True
        return np.packbits(flags)

    def contains(self, positions: np.ndarray) -> np.ndarray:
        if self.bits is not None:
            return (
                (self.bits[positions >> 3] >> (7 - (positions & 7)).astype(np.uint8)) & 1
            ).astype(bool)
        index = np.searchsorted(self.positions, positions)
        index[index == len(self.positions)] = 0
        return (
            self.positions[index] == positions
            if len(self.positions)
            else np.zeros(len(positions), bool)
        )

    def size(self) -> int:
        if self.bits is not None:
            return int(np.bitwise_count(self.bits).sum())
        return len(self.positions)

    def as_positions(self) -> np.ndarray:
        if self.bits is not None:
            return np.flatnonzero(np.unpackbits(self.bits, count=self.n_tokens))
        return self.positions

    def intersection(self, other: TokenSet) -> np.ndarray:
        """Sorted positions in both."""
        if self.bits is not None and other.bits is not None:
            return np.flatnonzero(np.unpackbits(self.bits & other.bits, count=self.n_tokens))
        small, large = (self, other) if self.bits is None else (other, self)
        if large.bits is None and len(small.positions) > len(large.positions):
            small, large = large, small
        return small.positions[large.contains(small.positions)]

    def union(self, other: TokenSet) -> TokenSet:
        if self.bits is not None or other.bits is not None:
            bits = self.bits if self.bits is not None else other.bits
            rest = other if bits is self.bits else self
            merged = bits.copy()
            if rest.bits is not None:
                merged |= rest.bits
            else:
                merged |= TokenSet.pack(rest.positions, self.n_tokens)
            return TokenSet(self.n_tokens, None, merged)
        joined = np.sort(np.concatenate([self.positions, other.positions]), kind="stable")
        distinct = joined[np.concatenate([[True], joined[1:] != joined[:-1]])]
        return TokenSet.from_sorted(distinct, self.n_tokens)


class MergeState:
    """The current groups: coactivation counts, sizes, token sets, membership."""

    def __init__(self, matrix: sp.csc_matrix, alpha: float):
        self.n_tokens = matrix.shape[0]
        self.alpha = alpha
        self.coact = coactivation_counts(matrix)
        n = matrix.shape[1]
        self.sizes = np.ones(n, dtype=np.float64)
        self.alive = np.ones(n, dtype=bool)
        self.alive_ids = np.arange(n)
        self.rate = np.diag(self.coact) / self.n_tokens  # activation rate of each group
        matrix.sort_indices()
        self.tokens = [
            TokenSet.from_sorted(
                matrix.indices[matrix.indptr[g] : matrix.indptr[g + 1]], self.n_tokens
            )
            for g in range(n)
        ]
        # Token-major map of which groups fire where, one entry per (token, group): entries are
        # internal labels (-1 once deleted); a merge relabels only the smaller group's tokens.
        by_token = matrix.tocsr()
        self.row_start = by_token.indptr
        self.row_labels = by_token.indices.astype(np.int32)
        del by_token
        self.label_of = np.arange(n, dtype=np.int32)  # group id -> internal label
        self.group_of_label = np.arange(n, dtype=np.int32)  # internal label -> group id

    @property
    def k(self) -> int:
        return len(self.alive_ids)

    def counts(self) -> np.ndarray:
        return np.diag(self.coact).astype(np.float64)

    def pair_costs(self, owner: int, partners: np.ndarray, full: bool = False) -> np.ndarray:
        """Costs of (owner, partner) pairs, each evaluated with the smaller id first.

        By default the pair-dependent part (the ranking); `full=True` gives spd's whole cost.
        """
        s_p, s_o = self.rate[partners], self.rate[owner]
        c = self.coact[owner, partners] / self.n_tokens
        r_p, r_o = self.sizes[partners], self.sizes[owner]
        k = self.k
        if full:
            total = float(self.rate[self.alive_ids].sum())
            owner_first = cost_terms(s_o, s_p, c, r_o, r_p, total, k, self.alpha)
            partner_first = cost_terms(s_p, s_o, c, r_p, r_o, total, k, self.alpha)
        else:
            owner_first = pair_part(s_o, s_p, c, r_o, r_p, k, self.alpha)
            partner_first = pair_part(s_p, s_o, c, r_p, r_o, k, self.alpha)
        return np.where(partners > owner, owner_first, partner_first)

    def best_partner(self, owner: int) -> tuple[float, int]:
        partners = self.alive_ids[self.alive_ids != owner]
        costs = self.pair_costs(owner, partners)
        best = int(np.argmin(costs))  # partners ascend, so ties go to the smaller id
        return float(costs[best]), int(partners[best])

    def rows_of(self, tokens: np.ndarray) -> np.ndarray:
        """Flat indices into `row_labels` of every entry of the given tokens' rows."""
        starts, stops = self.row_start[tokens], self.row_start[tokens + 1]
        lengths = stops - starts
        return np.repeat(stops - np.cumsum(lengths), lengths) + np.arange(lengths.sum())

    def merge(self, a: int, b: int) -> None:
        """Fold group b into group a (a < b)."""
        overlap = self.tokens[a].intersection(self.tokens[b])
        labels = self.row_labels[self.rows_of(overlap)]
        triple = np.bincount(self.group_of_label[labels[labels >= 0]], minlength=len(self.alive))
        merged_row = self.coact[a] + self.coact[b] - triple.astype(np.int32)
        merged_count = self.coact[a, a] + self.coact[b, b] - self.coact[a, b]
        self.coact[a, :] = merged_row
        self.coact[:, a] = merged_row
        self.coact[a, a] = merged_count

        small, large = (b, a) if self.tokens[b].size() <= self.tokens[a].size() else (a, b)
        small_label, kept_label = self.label_of[small], self.label_of[large]
        flat = self.rows_of(self.tokens[small].as_positions())
        hit = flat[self.row_labels[flat] == small_label]
        token_of_hit = np.searchsorted(self.row_start, hit, side="right") - 1
        in_both = self.tokens[large].contains(token_of_hit)
        self.row_labels[hit] = np.where(in_both, -1, kept_label)
        self.label_of[a] = kept_label
        self.group_of_label[kept_label] = a

        self.tokens[a] = self.tokens[a].union(self.tokens[b])
        self.tokens[b] = TokenSet.from_sorted(np.zeros(0, dtype=np.int32), self.n_tokens)
        self.sizes[a] += self.sizes[b]
        self.alive[b] = False
        self.alive_ids = self.alive_ids[self.alive_ids != b]
        self.rate[a] = merged_count / self.n_tokens

    def mdl_total(self) -> float:
        """spd's MDL cost of the current grouping: Σ_i s_i (log2 k + alpha r_i), s in counts."""
        counts = self.counts()[self.alive]
        return float((counts * (np.log2(self.k) + self.alpha * self.sizes[self.alive])).sum())


def sample_pair(
    state: MergeState, config: ClusteringConfig, rng: np.random.Generator
) -> tuple[int, int, float]:
    """spd's `range` and `mcmc` samplers over the full cost matrix of the current groups."""
    ids = state.alive_ids
    costs = cost_matrix(
        state.coact[np.ix_(ids, ids)].astype(np.float64),
        state.sizes[ids],
        state.n_tokens,
        config.alpha,
    )
    off_diagonal = ~np.eye(len(ids), dtype=bool)
    if config.mode == "range":
        low, high = costs[off_diagonal].min(), costs[off_diagonal].max()
        rows, cols = np.nonzero(
            (costs <= low + config.range_threshold * (high - low)) & off_diagonal
        )
        pick = rng.integers(len(rows))
        i, j = rows[pick], cols[pick]
    else:
        weights = np.where(
            off_diagonal, np.exp((costs[off_diagonal].min() - costs) / config.temperature), 0.0
        )
        flat = rng.choice(weights.size, p=(weights / weights.sum()).ravel())
        i, j = divmod(int(flat), len(ids))
    a, b = sorted((int(ids[i]), int(ids[j])))
    return a, b, float(costs[i, j])


def merge_to_the_end(
    store: ColumnStore, n_tokens: int, config: ClusteringConfig, stop_after: int | None = None
) -> MergeResult:
    """Merge until one group is left (or `stop_after` merges, as spd's `iters`); record every
    merge."""
    n_subcomponents = len(store.indptr) - 1
    if config.max_tokens is not None:
        n_tokens = min(n_tokens, config.max_tokens)
    alive, matrix = binarised_columns(store, config.activation_threshold, n_tokens)
    initial_groups = np.full(n_subcomponents, -1, dtype=np.int32)
    initial_groups[alive] = np.arange(len(alive), dtype=np.int32)
    state = MergeState(matrix, config.alpha)
    rows: list[tuple] = []
    mdl = [state.mdl_total()] if len(alive) else [0.0]
    rng = np.random.default_rng(config.seed)
    heap: list[tuple[float, int, int, int, int]] = []  # (cost, a, b, owner, owner version)
    version = np.zeros(len(alive), dtype=np.int64)

    def push_best(owner: int) -> None:
        cost, partner = state.best_partner(owner)
        a, b = sorted((owner, partner))
        heapq.heappush(heap, (cost, a, b, owner, int(version[owner])))

    if config.mode == "deterministic" and len(alive) > 1:
        for owner in range(len(alive)):
            push_best(owner)
    total = max(len(alive) - 1, 0) if stop_after is None else min(stop_after, len(alive) - 1)
    progress = tqdm(total=max(total, 0), desc="merge", unit="merge", mininterval=1.0)
    while state.k > 1 and len(rows) < total:
        if config.mode == "deterministic":
            a, b, cost = next_deterministic_pair(state, heap, version, push_best)
        else:
            a, b, cost = sample_pair(state, config, rng)
        state.merge(a, b)
        version[a] += 1
        rows.append((len(rows), a, b, cost, state.k))
        mdl.append(state.mdl_total())
        if config.mode == "deterministic" and state.k > 1:
            push_best(a)
        progress.update()
    progress.close()
    merges = pd.DataFrame(rows, columns=["iteration", "group_a", "group_b", "cost", "k_groups"])
    merges = merges.astype(
        {
            "iteration": "int32",
            "group_a": "int32",
            "group_b": "int32",
            "cost": "float64",
            "k_groups": "int32",
        }
    )
    merges["mdl_total"] = np.asarray(mdl[1:], dtype=np.float64)
    return MergeResult(initial_groups, merges, int(np.argmin(mdl)))


def next_deterministic_pair(
    state: MergeState, heap: list, version: np.ndarray, push_best
) -> tuple[int, int, float]:
    """Pop until the top entry's current cost is no more than every other entry's lower bound."""
    while True:
        _, a, b, owner, owner_version = heapq.heappop(heap)
        if not state.alive[owner] or owner_version != version[owner]:
            continue  # the owner merged away or changed; a fresher entry exists if it lives
        if not (state.alive[a] and state.alive[b]):
            push_best(owner)
            continue
        part = float(state.pair_costs(a, np.array([b]))[0])
        if not heap or (part, a, b) <= heap[0][:3]:
            return a, b, float(state.pair_costs(a, np.array([b]), full=True)[0])
        push_best(owner)
