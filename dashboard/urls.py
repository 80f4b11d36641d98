"""Addresses inside the app, and reading the values that arrive in URLs: query strings and path
segments. Every internal link is built by `Links`, so each keeps the page's study and iteration."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlencode


@dataclass(frozen=True)
class Links:
    """Addresses inside the app that keep a page's study (`study=`, when the page names one)
    and iteration (`iteration=`, when it is not the study's default)."""

    study: str | None
    iteration: int
    default_iteration: int

    @classmethod
    def of(cls, store: dict, default_iteration: int) -> Links:
        """The links of a page whose store holds `study` and `iteration` (either optional)."""
        iteration = store.get("iteration")
        return cls(
            store.get("study"),
            default_iteration if iteration is None else int(iteration),
            default_iteration,
        )

    def query(self, **extra: object) -> str:
        """`?study=..&iteration=..&<extra>`: only values that differ from the defaults."""
        params: dict[str, object] = {}
        if self.study:
            params["study"] = self.study
        if self.iteration != self.default_iteration:
            params["iteration"] = self.iteration
        params.update({key: value for key, value in extra.items() if value is not None})
        return f"?{urlencode(params)}" if params else ""

    def to(self, path: str, **extra: object) -> str:
        return path + self.query(**extra)

    def at(self, iteration: int) -> Links:
        """The same links at another iteration."""
        return replace(self, iteration=iteration)

    def cluster(self, cluster: int) -> str:
        return self.to(f"/cluster/{cluster}")

    def component(self, label: str) -> str:
        return self.to(f"/component/{label}")

    def sample(self, window: int, **extra: object) -> str:
        return self.to(f"/sample/{window}", **extra)

    def clusters(self, **extra: object) -> str:
        """The list of clusters."""
        return self.to("/clusters", **extra)


def single(value: str | list[str] | None) -> str | None:
    """Dash passes a repeated query key as a list; the last one wins."""
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def parse_index(text: str | None) -> int | None:
    """A non-negative integer from a path segment, or None when it is not one."""
    if text is None or not text.isdigit() or len(text) > 12:
        return None
    return int(text)
