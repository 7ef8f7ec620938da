"""Settings from files (`VODKIT_SECRETS_DIR`), as a mounted Kubernetes Secret provides them."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodkit_shared.settings import CommonSettings
from vodkit_transcoder.settings import TranscoderSettings

pytestmark = pytest.mark.unit


def test_a_setting_comes_from_its_file_and_a_variable_wins_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "vodkit_auth_secret").write_text("from-a-file\n")
    (tmp_path / "VODKIT_BUS_URL").write_text("amqp://transcoder:pw@rabbitmq:5672/vodkit")
    (tmp_path / "vodkit_slots").write_text("4")
    monkeypatch.setenv("VODKIT_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("VODKIT_AUTH_SECRET", raising=False)
    monkeypatch.delenv("VODKIT_BUS_URL", raising=False)
    settings = TranscoderSettings()
    assert settings.auth_secret is not None
    assert settings.auth_secret.get_secret_value() == "from-a-file"
    assert settings.bus_url == "amqp://transcoder:pw@rabbitmq:5672/vodkit"
    assert settings.slots == 4  # a service's own settings too
    monkeypatch.setenv("VODKIT_BUS_URL", "memory://")
    assert CommonSettings().bus_url == "memory://"


def test_without_the_directory_nothing_is_read_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VODKIT_SECRETS_DIR", raising=False)
    monkeypatch.delenv("VODKIT_BUS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vodkit_bus_url").write_text("amqp://nowhere")
    assert CommonSettings().bus_url == "memory://"
