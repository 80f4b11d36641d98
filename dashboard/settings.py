"""Settings read from the environment, each with a default."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

Mode = Literal["embedded", "scaled"]
DEVICES = ("auto", "cpu", "cuda")
# each inference job's time limit in seconds, by operation (ATLAS_JOB_SECONDS overrides)
JOB_SECONDS = {
    "heldout_prompts": 60.0,
    "probe": 60.0,
    "attribution_graph": 120.0,
    "prompt_importance": 120.0,
    "masked_inference": 300.0,
    "masked_inference_slice": 600.0,
}


class SettingsError(ValueError):
    """An environment variable holds a value the app cannot use."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    study: str | None
    redis_url: str | None
    database_url: str | None
    device: str
    secret_key: str
    secret_key_is_generated: bool
    port: int
    github_repo: str | None = None  # owner/name: where clusters are discussed
    github_api: str = "https://api.github.com"
    github_token: str | None = field(default=None, repr=False)  # never reaches the browser
    job_seconds: tuple[tuple[str, float], ...] = tuple(JOB_SECONDS.items())
    torch_threads: int | None = None  # torch's intra-op threads in a worker (None: torch's own)
    # a harvest shard whose worker has not finished it this long after taking it goes to another
    harvest_visibility_seconds: float = 600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        device = env.get("ATLAS_DEVICE", "auto").strip().lower() or "auto"
        if device not in DEVICES:
            raise SettingsError(f"ATLAS_DEVICE={device!r}: expected one of {', '.join(DEVICES)}")
        port_text = env.get("PORT", "8050").strip() or "8050"
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SettingsError(f"PORT={port_text!r}: expected an integer between 1 and 65535")
        data_dir = Path(env.get("ATLAS_DATA_DIR", "") or "./atlas-data").expanduser().resolve()
        secret_key = env.get("ATLAS_SECRET_KEY", "")
        return cls(
            data_dir=data_dir,
            study=env.get("ATLAS_STUDY") or None,
            redis_url=env.get("REDIS_URL") or None,
            database_url=env.get("DATABASE_URL") or None,
            device=device,
            secret_key=secret_key or shared_secret_key(data_dir),
            secret_key_is_generated=not secret_key,
            port=int(port_text),
            github_repo=github_repo(env.get("ATLAS_GITHUB_REPO", "")),
            github_api=(env.get("ATLAS_GITHUB_API", "") or "https://api.github.com").rstrip("/"),
            github_token=env.get("GITHUB_TOKEN") or None,
            job_seconds=job_seconds(env.get("ATLAS_JOB_SECONDS", "")),
            torch_threads=positive_number(env, "ATLAS_TORCH_THREADS", int),
            harvest_visibility_seconds=positive_number(
                env, "ATLAS_HARVEST_VISIBILITY_SECONDS", float
            )
            or 600.0,
        )

    def job_limit(self, operation: str) -> float:
        """How long an inference job of `operation` may run before its process is stopped."""
        return dict(self.job_seconds).get(operation, max(JOB_SECONDS.values()))

    @property
    def mode(self) -> Mode:
        """Scaled when a Redis URL is set, embedded otherwise."""
        return "scaled" if self.redis_url else "embedded"

    @property
    def store_url(self) -> str:
        """The URL of the mask and explanation store."""
        return self.database_url or f"sqlite:///{self.data_dir / 'atlas.sqlite3'}"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    def describe(self) -> str:
        """A multi-line summary for start-up logs; secrets are masked."""
        secret_note = "generated, kept in the data dir" if self.secret_key_is_generated else "set"
        rows = [
            ("mode", self.mode),
            ("ATLAS_DATA_DIR", str(self.data_dir)),
            ("ATLAS_STUDY", self.study or "(none)"),
            ("REDIS_URL", mask_url_password(self.redis_url) if self.redis_url else "(unset)"),
            ("DATABASE_URL", mask_url_password(self.store_url)),
            ("ATLAS_DEVICE", self.device),
            ("ATLAS_SECRET_KEY", f"*** ({secret_note})"),
            ("PORT", str(self.port)),
            ("ATLAS_GITHUB_REPO", self.github_repo or "(unset: no discussion links)"),
            ("ATLAS_GITHUB_API", self.github_api),
            ("GITHUB_TOKEN", "*** (set)" if self.github_token else "(unset: public access)"),
            ("ATLAS_JOB_SECONDS", ",".join(f"{k}={v:g}" for k, v in self.job_seconds)),
            ("ATLAS_TORCH_THREADS", str(self.torch_threads or "(unset: torch's default)")),
            ("ATLAS_HARVEST_VISIBILITY_SECONDS", f"{self.harvest_visibility_seconds:g}"),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"  {name.ljust(width)}  {value}" for name, value in rows)


def job_seconds(text: str) -> tuple[tuple[str, float], ...]:
    """The default limits, with those of `operation=seconds,...` in their place."""
    limits = dict(JOB_SECONDS)
    for part in filter(None, (part.strip() for part in text.split(","))):
        operation, _, seconds = part.partition("=")
        if operation.strip() not in JOB_SECONDS:
            raise SettingsError(
                f"ATLAS_JOB_SECONDS: unknown operation {operation.strip()!r}; expected one of "
                + ", ".join(JOB_SECONDS)
            )
        try:
            value = float(seconds)
        except ValueError:
            value = 0.0
        if not value > 0:
            raise SettingsError(f"ATLAS_JOB_SECONDS: {part!r}: expected operation=seconds > 0")
        limits[operation.strip()] = value
    return tuple(limits.items())


Number = TypeVar("Number", int, float)


def positive_number(env: Mapping[str, str], name: str, kind: type[Number]) -> Number | None:
    """The variable `name` as a number above 0, or None when unset; SettingsError otherwise."""
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        value = kind(0)
    if not value > 0:
        raise SettingsError(f"{name}={text!r}: expected a {kind.__name__} above 0")
    return value


def github_repo(text: str) -> str | None:
    """`owner/name`, or None when unset; SettingsError for anything else."""
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+", text):
        raise SettingsError(f"ATLAS_GITHUB_REPO={text!r}: expected owner/name")
    return text


def mask_url_password(url: str) -> str:
    """Replace the password of a URL with '***'."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def shared_secret_key(data_dir: Path) -> str:
    """The data dir's secret key, created once so every process on this host signs alike."""
    key_path = data_dir / ".secret_key"
    if not key_path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        draft.write_text(secrets.token_hex(32))
        draft.chmod(0o600)
        try:
            os.link(draft, key_path)  # atomic: the first process wins, the others read its key
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return key_path.read_text().strip()
