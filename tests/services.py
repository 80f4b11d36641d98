"""The local services the tests talk to, as `scripts/install-test-services.sh` left them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

POSTGRES_URL_FILE = Path(__file__).resolve().parents[1] / ".test-services" / "postgres.url"
MACHINE_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url(password: str | None = None) -> str:
    """The PostgreSQL server of the tests (the machine's, or the script's private one); with
    `password` in it when given (trust authentication ignores it)."""
    url = POSTGRES_URL_FILE.read_text().strip() if POSTGRES_URL_FILE.is_file() else MACHINE_POSTGRES
    if password is None:
        return url
    parts = urlsplit(url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
