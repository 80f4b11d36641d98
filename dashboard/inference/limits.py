"""Input limits of the inference service, shared by pages (torch-free) and the model side."""

from __future__ import annotations

MAX_TOKENS = 512  # per text; longer input is refused with this limit named
MAX_PROMPTS = 32  # per prompt set
MAX_SLICE_WINDOWS = 64  # held-out windows per masked-inference slice
# the target's outputs (next-token probabilities, entropy, losses, top-k) on recently used
# held-out windows, kept by the model's process
TARGET_CACHE_BYTES = 512 * 2**20
# embedded: page jobs (processes forked from the web worker) at once, per core
JOBS_PER_CORE = 1


def prompt_lines(text: str | None) -> list[str]:
    """A prompt set typed one prompt per line; over MAX_PROMPTS is refused with the limit."""
    prompts = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(prompts) > MAX_PROMPTS:
        raise ValueError(f"{len(prompts)} prompts; the limit is {MAX_PROMPTS}")
    return prompts
