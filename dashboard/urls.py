"""Reading values that arrive in URLs: query strings and path segments."""

from __future__ import annotations


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
