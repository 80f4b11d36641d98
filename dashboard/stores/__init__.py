"""The app's small mutable stores: causal masks and texts by content hash (explanations later)."""
