from pathlib import Path

import pytest

from lookalike.config import StrictModel, apply_overrides, load_config
from lookalike.errors import ConfigError


class Optim(StrictModel):
    lr: float = 1e-3
    weight_decay: float = 0.0


class Cfg(StrictModel):
    name: str = "x"
    epochs: int = 3
    optim: Optim = Optim()


def test_load_yaml_and_overrides(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("name: run\noptim:\n  lr: 0.01\n")
    cfg = load_config(Cfg, p, ["epochs=7", "optim.weight_decay=1e-4"])
    assert (cfg.name, cfg.epochs, cfg.optim.lr, cfg.optim.weight_decay) == ("run", 7, 0.01, 1e-4)


def test_unknown_key_names_its_path_and_suggests(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("optim:\n  lrr: 0.01\n")
    with pytest.raises(ConfigError) as exc:
        load_config(Cfg, p)
    msg = str(exc.value)
    assert "optim.lrr: unknown key" in msg
    assert "did you mean 'lr'" in msg
    assert str(p) in msg


def test_wrong_type_is_reported_with_path() -> None:
    with pytest.raises(ConfigError, match="epochs"):
        load_config(Cfg, None, ["epochs=many"])


def test_bad_override_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        apply_overrides({}, ["epochs"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Cfg, tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(Cfg, tmp_path / "list.yaml")


def test_a_check_across_keys_gives_its_message_without_echoing_the_section() -> None:
    from pydantic import model_validator

    class Checked(StrictModel):
        lo: int = 0
        hi: int = 1

        @model_validator(mode="after")
        def _ordered(self) -> "Checked":
            if self.lo > self.hi:
                raise ValueError("lo must not exceed hi; lower lo or raise hi")
            return self

    with pytest.raises(ConfigError) as exc:
        load_config(Checked, None, ["lo=5"])
    msg = str(exc.value)
    assert "<root>: lo must not exceed hi; lower lo or raise hi" in msg
    assert "Value error" not in msg and "'hi': 1" not in msg  # the whole section is not dumped back
    with pytest.raises(ConfigError, match=r"epochs: .* \(got 'many'\)"):  # a single value is still echoed
        load_config(Cfg, None, ["epochs=many"])


def test_a_config_file_in_another_encoding_is_one_clear_error(tmp_path: Path) -> None:
    from lookalike.config import read_yaml

    (tmp_path / "bom.yaml").write_bytes("\ufeffname: café\n".encode())
    assert read_yaml(tmp_path / "bom.yaml") == {"name": "café"}  # a BOM (Windows editors) is fine
    (tmp_path / "latin.yaml").write_bytes("name: café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.yaml' is not UTF-8 \(offset 9\); save it as UTF-8"):
        read_yaml(tmp_path / "latin.yaml")
