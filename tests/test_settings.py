from pathlib import Path

import pytest

from dashboard.settings import Settings, SettingsError, mask_url_password


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.data_dir == tmp_path / "atlas-data"
    assert settings.study is None
    assert settings.redis_url is None
    assert settings.mode == "embedded"
    assert settings.store_url == f"sqlite:///{tmp_path / 'atlas-data' / 'atlas.sqlite3'}"
    assert settings.device == "auto"
    assert settings.port == 8050
    assert settings.secret_key_is_generated


def test_every_variable_is_read(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "ATLAS_DATA_DIR": str(tmp_path),
            "ATLAS_STUDY": "demo",
            "REDIS_URL": "redis://127.0.0.1:6379/3",
            "DATABASE_URL": "postgresql://atlas@127.0.0.1/test",
            "ATLAS_DEVICE": "CUDA",
            "ATLAS_SECRET_KEY": "k" * 40,
            "PORT": "9000",
        }
    )
    assert settings.data_dir == tmp_path
    assert settings.study == "demo"
    assert settings.mode == "scaled"
    assert settings.store_url == "postgresql://atlas@127.0.0.1/test"
    assert settings.device == "cuda"
    assert settings.secret_key == "k" * 40
    assert not settings.secret_key_is_generated
    assert settings.port == 9000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ATLAS_DEVICE": "tpu"}, "ATLAS_DEVICE='tpu'"),
        ({"PORT": "eighty"}, "PORT='eighty'"),
        ({"PORT": "70000"}, "PORT='70000'"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"ATLAS_DATA_DIR": str(tmp_path), **env})


def test_generated_secret_key_is_shared_through_the_data_dir(tmp_path: Path) -> None:
    first = Settings.from_env({"ATLAS_DATA_DIR": str(tmp_path)})
    second = Settings.from_env({"ATLAS_DATA_DIR": str(tmp_path)})
    assert len(first.secret_key) == 64
    assert first.secret_key == second.secret_key
    assert (tmp_path / ".secret_key").stat().st_mode & 0o077 == 0


def test_describe_masks_secrets(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "ATLAS_DATA_DIR": str(tmp_path),
            "REDIS_URL": "redis://:redispass@127.0.0.1:6379/0",
            "DATABASE_URL": "postgresql://atlas:dbpass@db:5432/atlas",
            "ATLAS_SECRET_KEY": "topsecretvalue",
        }
    )
    text = settings.describe()
    assert "scaled" in text
    for secret in ("redispass", "dbpass", "topsecretvalue"):
        assert secret not in text
    assert "postgresql://atlas:***@db:5432/atlas" in text


def test_mask_url_password_leaves_plain_urls() -> None:
    assert mask_url_password("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_worker_settings(tmp_path: Path) -> None:
    base = {"ATLAS_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).torch_threads is None
    assert Settings.from_env(base).harvest_visibility_seconds == 600
    settings = Settings.from_env(
        base | {"ATLAS_TORCH_THREADS": "2", "ATLAS_HARVEST_VISIBILITY_SECONDS": "7.5"}
    )
    assert settings.torch_threads == 2 and settings.harvest_visibility_seconds == 7.5
    assert "ATLAS_HARVEST_VISIBILITY_SECONDS  7.5" in settings.describe()
    for name, value in (("ATLAS_TORCH_THREADS", "two"), ("ATLAS_TORCH_THREADS", "0"),
                        ("ATLAS_HARVEST_VISIBILITY_SECONDS", "-1")):  # fmt: skip
        with pytest.raises(SettingsError, match=f"{name}='{value}'"):
            Settings.from_env(base | {name: value})
