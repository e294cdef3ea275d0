from dataclasses import dataclass, field

import pytest

from worldsim.config import apply_overrides, from_dict, load_config
from worldsim.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    size: int = 64
    name: str = "x"


@dataclass(frozen=True)
class Outer:
    lr: float = 1e-3
    steps: int = 10
    flag: bool = False
    tags: tuple[str, ...] = ()
    tag: str | None = None
    inner: Inner = field(default_factory=Inner)


def test_nested_overrides_are_coerced():
    cfg = load_config(Outer, overrides=["lr=3e-4", "steps=1_000", "flag=true", "inner.size=96", "tags=a,b"])
    assert cfg == Outer(lr=3e-4, steps=1000, flag=True, tags=("a", "b"), inner=Inner(size=96))


def test_unknown_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match="unknown key in config 'stpes'. Did you mean 'steps'"):
        from_dict(Outer, {"stpes": 3})


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match="steps: expected an integer, got 'many'"):
        load_config(Outer, overrides=["steps=many"])
    with pytest.raises(ConfigError, match="flag: expected true/false"):
        from_dict(Outer, {"flag": "maybe"})


def test_yaml_and_toml_files(tmp_path):
    (tmp_path / "c.yaml").write_text("lr: 0.5\ninner:\n  name: y\n")
    (tmp_path / "c.toml").write_text("steps = 7\n[inner]\nsize = 32\n")
    assert load_config(Outer, tmp_path / "c.yaml", ["steps=2"]) == Outer(lr=0.5, steps=2, inner=Inner(name="y"))
    assert load_config(Outer, tmp_path / "c.toml") == Outer(steps=7, inner=Inner(size=32))


def test_bad_files_give_one_line_errors(tmp_path):
    (tmp_path / "bad.yaml").write_text("lr: [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: not valid YAML"):
        load_config(Outer, tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({}, ["novalue"])


def test_optional_accepts_none():
    assert from_dict(Outer, {"tag": "none"}).tag is None
    assert from_dict(Outer, {"tag": "z"}).tag == "z"


@pytest.mark.parametrize("path", sorted(__import__("pathlib").Path("configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_training_configs_load(path):
    from worldsim.training.train import TrainConfig

    cfg = load_config(TrainConfig, path)
    assert cfg.data == f"data/{path.stem}" and cfg.out == f"runs/{path.stem}"


CODEC_RECIPES = sorted(__import__("pathlib").Path("configs/codec").glob("*.yaml"))


@pytest.mark.parametrize("path", CODEC_RECIPES, ids=lambda p: p.stem)
def test_shipped_codec_recipes_load(path):
    from worldsim.training.codec import CodecTrainConfig

    cfg = load_config(CodecTrainConfig, path)
    assert cfg != CodecTrainConfig()  # a recipe that changes nothing would be no recipe


GROW_RECIPES = sorted(__import__("pathlib").Path("configs/grow").glob("*.yaml"))


@pytest.mark.parametrize("path", GROW_RECIPES, ids=lambda p: p.stem)
def test_shipped_grow_recipes_load(path):
    from worldsim.config import read_config_file
    from worldsim.training.train import TrainConfig

    cfg = from_dict(TrainConfig, {**read_config_file(path), "data": f"data/{path.stem}"}, where=str(path))
    assert cfg.steps > 0 and cfg.model_overrides  # a grow recipe makes the teacher deeper and trains it on
