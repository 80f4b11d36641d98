"""Dash callbacks, one module per page; importing this package registers them all."""

from callbacks import (
    cluster,
    clusters,
    component,
    discussion,
    infer,
    masks,
    probe,
    sample,
    study,
)

__all__ = [
    "cluster",
    "clusters",
    "component",
    "discussion",
    "infer",
    "masks",
    "probe",
    "sample",
    "study",
]
