"""The sampling recipe: one resolver, the same overrides at every entry point, old world files mapped once."""

import argparse
import dataclasses
import inspect

import pytest

from worldsim.errors import ConfigError
from worldsim.sampling.config import (
    GuidanceConfig,
    HoldConfig,
    SamplingConfig,
    resolve_sampling,
    sampling_from_file,
)

BASE = SamplingConfig(steps=4, context_noise=0.2, guidance=GuidanceConfig(2.5, 0.0), hold=HoldConfig(13.0, still=0.04))


def test_unset_is_the_worlds_recipe_and_every_spelling_overrides_the_same_way():
    assert resolve_sampling(BASE, None) is BASE
    assert resolve_sampling(BASE, {}) == BASE
    nested = resolve_sampling(BASE, {"guidance": {"scale": 1}, "hold": {"threshold": 0, "still": 0}})
    dotted = resolve_sampling(BASE, {"guidance.scale": 1, "hold.threshold": 0, "hold.still": 0})
    strings = resolve_sampling(BASE, ["guidance.scale=1", "hold.threshold=0", "hold.still=0"])
    assert nested == dotted == strings
    assert nested.guidance == GuidanceConfig(1.0, 0.0)  # the rest of a section stays the world's
    assert nested.steps == 4 and nested.context_noise == 0.2
    whole = SamplingConfig(steps=1)
    assert resolve_sampling(BASE, whole) is whole


def test_zero_is_a_value_not_unset():
    r = resolve_sampling(BASE, {"guidance.scale": 0, "context_noise": 0})
    assert r.guidance.scale == 0.0 and r.context_noise == 0.0
    assert r.guidance.enabled  # 0 runs the null-action pass only; 1 is "off"


def test_bad_overrides_are_one_clear_error():
    with pytest.raises(ConfigError, match="Did you mean 'steps'"):
        resolve_sampling(BASE, {"stepz": 2})
    with pytest.raises(ConfigError, match="Did you mean 'parallel'"):
        resolve_sampling(BASE, {"guidance.paralel": 0})
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        resolve_sampling(BASE, {"steps": 0})
    with pytest.raises(ConfigError, match="context_noise must be in"):
        resolve_sampling(BASE, {"context_noise": -0.1})
    with pytest.raises(ConfigError, match="guidance parallel must be in"):
        resolve_sampling(BASE, {"guidance": {"parallel": 1.5}})
    with pytest.raises(ConfigError, match="expected a number"):
        resolve_sampling(BASE, ["guidance.scale=lots"])
    with pytest.raises(ConfigError, match="not a section"):
        resolve_sampling(BASE, {"steps.scale": 2})


def test_flat_keys_of_old_world_files_map_to_the_same_recipe():
    old = {
        "steps": 4, "context_noise": 0.05, "fps": 25.0, "guidance": 2.5, "guidance_parallel": 0.5, "hold": 13.0,
        "hold_region": [0.875, 1.0, 0.0, 1.0], "hold_region_threshold": 6.0, "hold_still": 0.04,
        "hold_still_region": 0.02, "hold_snap": 0.0,
    }  # fmt: skip
    recipe, extra = sampling_from_file(old, "old.safetensors sampling")
    assert extra == {"fps": 25.0}  # the source world's frame rate is world metadata now
    assert recipe == SamplingConfig(
        4, 0.05, GuidanceConfig(2.5, 0.5), HoldConfig(13.0, (0.875, 1.0, 0.0, 1.0), 6.0, 0.04, 0.02, 0.0)
    )
    assert sampling_from_file(dataclasses.asdict(recipe), "new")[0] == recipe  # the nested form loads as it is


def test_every_entry_point_takes_the_same_sampling_overrides():
    from worldsim.cli import build_parser
    from worldsim.envs.learned import EnvConfig
    from worldsim.eval.run import EvalConfig
    from worldsim.play.config import PlayConfig
    from worldsim.rollout.runner import RunOptions
    from worldsim.sampling.bench import BenchConfig
    from worldsim.sampling.open_loop import open_loop
    from worldsim.sampling.simulator import Simulator

    for fn in (Simulator.__init__, open_loop):
        assert "sampling" in inspect.signature(fn).parameters, fn
    for cls in (EnvConfig, EvalConfig, PlayConfig, RunOptions, BenchConfig):
        assert "sampling" in {f.name for f in dataclasses.fields(cls)}, cls
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("play", "eval", "bench", "export", "rollout"):
        flags = {o for a in sub.choices[command]._actions for o in a.option_strings}
        assert {"--guidance", "-S", "--sampling"} <= flags, command


def test_no_hold_switches_every_pixel_post_processing_off():
    from worldsim.cli.sampling_args import add_sampling_args, sampling_overrides
    from worldsim.sampling.config import HoldConfig, SamplingConfig, resolve_sampling

    p = argparse.ArgumentParser()
    add_sampling_args(p)
    hold = HoldConfig(threshold=13, region=(0.875, 1.0, 0.0, 1.0), region_threshold=6, still=0.04)
    shipped = SamplingConfig(hold=hold)
    off = resolve_sampling(shipped, sampling_overrides(p.parse_args(["--no-hold"]))).hold
    assert (off.threshold, off.region_threshold, off.still, off.still_region, off.snap) == (0, 0, 0, 0, 0)
    assert resolve_sampling(shipped, sampling_overrides(p.parse_args([]))).hold == shipped.hold
