"""Service settings: YAML < environment < CLI overrides; keys required unless --no-auth; secrets stay secret."""

from __future__ import annotations

import pytest

from lookalike.errors import ConfigError
from lookalike.service import ServiceSettings, create_app, load_settings


def test_precedence_yaml_env_overrides(tmp_path):
    cfg = tmp_path / "service.yaml"
    cfg.write_text("service:\n  max_k: 7\n  port: 9000\n  write_keys: [yaml-key-123]\n")
    env = {"LOOKALIKE_SERVICE_PORT": "9100", "LOOKALIKE_SERVICE_API_KEYS": "env-read-1,env-read-2"}
    s = load_settings(cfg, {"port": 9200, "host": None}, env=env, dotted=["max_batch_size=8"])
    assert (s.max_k, s.port, s.max_batch_size, s.host) == (7, 9200, 8, "127.0.0.1")
    assert [k.get_secret_value() for k in s.read_keys] == ["env-read-1", "env-read-2"]
    assert [k.get_secret_value() for k in s.write_keys] == ["yaml-key-123"]


def test_keys_never_show_in_repr_or_errors():
    s = load_settings(None, {"write_keys": ["super-secret-key"]}, env={})
    assert "super-secret-key" not in repr(s) and "super-secret-key" not in str(s.model_dump())
    with pytest.raises(ConfigError) as err:
        load_settings(None, {"write_keys": ["short"]}, env={})
    assert "at least 8 characters" in str(err.value) and "short" not in str(err.value).split("characters")[0][-8:]


def test_no_keys_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="--no-auth"):
        load_settings(None, {}, env={})
    with pytest.raises(ConfigError, match="--api-key"):
        create_app(ServiceSettings(), gallery=object())
    assert load_settings(None, {"no_auth": True}, env={}).no_auth


def test_unknown_setting_and_env_var_are_errors(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("max_upload_byte: 10\n")
    with pytest.raises(ConfigError, match="did you mean 'max_upload_bytes'"):
        load_settings(cfg, {"no_auth": True}, env={})
    with pytest.raises(ConfigError, match="LOOKALIKE_SERVICE_MAX_KK is not a service setting"):
        load_settings(None, {"no_auth": True}, env={"LOOKALIKE_SERVICE_MAX_KK": "3"})
