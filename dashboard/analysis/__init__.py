"""Per-cluster measures and lens decodings computed with numpy from a study: never imports torch.

The pipeline precomputes them for a study's default iteration; the app computes them on demand
(and caches them) for any other iteration of the merge history.
"""
