"""The service interface and its inline backend: the model lives in this process, loaded on
first use."""

from __future__ import annotations

import threading
from typing import Protocol

from dashboard.settings import Settings
from dashboard.study import Study


class InferenceUnavailableError(RuntimeError):
    """The service cannot run now (worker down, Redis unreachable, no decomposition)."""


class InferenceService(Protocol):
    def run(self, study: Study, operation: str, arguments: dict) -> dict | list: ...


class InlineService:
    """Runs operations in this process; one model per study, loaded lazily under a lock."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.lock = threading.Lock()
        self.loaded: dict[str, object] = {}

    def decomposition(self, study: Study):
        from dashboard.decomposition.api import load_decomposition
        from dashboard.inference.locate import find_decomposition

        key = study.provenance["decomposition"]
        if key not in self.loaded:
            directory = find_decomposition(study, self.settings.data_dir)
            self.loaded[key] = load_decomposition(directory, device=self.settings.device)
        return self.loaded[key]

    def run(self, study: Study, operation: str, arguments: dict) -> dict | list:
        from dashboard.inference.compute import OPERATIONS

        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        with self.lock:
            return OPERATIONS[operation](self.decomposition(study), **arguments)


def inference_service(settings: Settings) -> InferenceService:
    """The service pages use. Both modes run inline for now; the Celery worker of the scaled
    mode is not built yet."""
    return InlineService(settings)
