import json

import pytest

from worldsim.cli import COMMANDS, main


@pytest.mark.parametrize(
    "argv", [[], *[[c] for c in COMMANDS], ["data", "info"], ["data", "validate"], ["data", "import"]]
)
def test_every_help_has_an_example(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out and "worldsim" in out


def test_worlds_lists_every_world(capsys):
    assert main(["worlds", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} >= {"toy", "carracing", "highway", "doom", "breakout"}
    assert all(r["available"] for r in rows), [r.get("error") for r in rows]


def test_collect_and_info(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["collect", "toy", "--frames", "100", "--out", str(out), "--no-progress", "--resolution", "32"]) == 0
    assert main(["data", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["steps"] == 100 and info["resolution"] == "32x32"


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["collect", "carracng", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "worldsim collect: error: unknown world 'carracng'. Did you mean 'carracing'? "
        "Valid choices: breakout, carracing, doom, highway, toy."
    )
    assert main(["collect", "toy", "-W", "sped=3", "--out", str(tmp_path / "y"), "--no-progress"]) == 2
    assert "Did you mean 'speed'" in capsys.readouterr().err
    assert main(["collect", "toy", "frames=-1", "--no-progress"]) == 2
    assert "frames must be >= 1" in capsys.readouterr().err


def test_overrides_without_the_optional_positional(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["collect", "world=toy", "frames=20", "--out", str(out), "--no-progress"]) == 0
    assert main(["data", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["world"] == "toy" and info["steps"] == 20


def test_options_generated_from_a_config_take_its_defaults_and_docstrings():
    import argparse

    from worldsim.cli.fields import add_config_args, config_from_args, field_help
    from worldsim.play.config import PlayConfig

    helps = field_help(PlayConfig)
    assert helps["scale"] == "Window pixels per model pixel."
    assert "replay" in helps and "``" not in helps["side_by_side"]
    p = argparse.ArgumentParser()
    add_config_args(p, PlayConfig, exclude=("world", "sampling"))
    given = config_from_args(PlayConfig, p.parse_args(["--scale", "4", "--side-by-side"]), "play options")
    assert given == PlayConfig(scale=4, side_by_side=True)  # everything not given is the dataclass default
    assert config_from_args(PlayConfig, p.parse_args([]), "play options") == PlayConfig()
    with pytest.raises(SystemExit):
        p.parse_args(["--scale", "big"])
    text = p.format_help()
    assert "--save-dir" in text and "(default: worldsim-play)" in text and "(default: None)" not in text


def test_os_errors_are_one_line(tmp_path, capsys):
    import os

    if os.geteuid() == 0:  # root writes through permissions: use a path under a file instead
        out = tmp_path / "file"
        out.write_text("x")
        target = out / "data"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "data"
    assert main(["collect", "toy", "--frames", "10", "--out", str(target), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and str(target.parent) in err


def test_more_bad_inputs_are_one_line(tmp_path, capsys):
    ds = tmp_path / "ds"
    assert main(["collect", "toy", "--frames", "20", "--out", str(ds), "--no-progress"]) == 0
    meta = json.loads((ds / "meta.json").read_text())
    (ds / "meta.json").write_text(json.dumps({**meta, "height": "sixty-four"}))
    cases = [
        (["collect", "toy", "--frames", "10", "--resolution", "0", "--out", str(tmp_path / "r0")], "at least 8x8"),
        (["data", "info", str(ds)], "height must be a whole number"),
        (["data", "import", str(tmp_path / "v.mp4"), "--actions", "a,b,a", "--out", str(tmp_path / "i")],
         "names ['a'] more than once"),
    ]  # fmt: skip
    capsys.readouterr()
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err


def test_worlds_say_which_ship_a_learned_model_and_play_says_what_to_do(capsys):
    from worldsim.assets import shipped_worlds

    assert main(["worlds", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {n for n, r in rows.items() if r["learned_model"]} == set(shipped_worlds())
    assert rows["highway"]["learned_model"] and not rows["toy"]["learned_model"]
    assert main(["play", "toy", "--headless", "--policy", "random"]) == 2
    err = capsys.readouterr().err
    assert "has no learned model shipped" in err and "WorldSimReal-v0" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["rollout", "carracing_straight_brake", "--out", "{blocker}/out"],
        ["play", "breakout", "--headless", "--policy", "random", "--frames", "2", "--out", "{blocker}/x.mp4"],
        [
            "play",
            "breakout",
            "--headless",
            "--policy",
            "random",
            "--frames",
            "2",
            "--out",
            "{ok}",
            "--record",
            "{blocker}/r",
        ],
        ["bench", "breakout", "--backends", "eager", "--steps", "1", "--out", "{blocker}/b.json"],
    ],
    ids=["rollout", "play-out", "play-record", "bench"],
)
def test_an_unwritable_output_fails_before_any_model_loads(argv, tmp_path, capsys, monkeypatch):
    from worldsim.world_model import WorldModel

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the output place was checked")

    monkeypatch.setattr(WorldModel, "load", no_load)
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # a path under a file can never be created, whoever runs the test
    argv = [a.format(blocker=blocker, ok=tmp_path / "ok.mp4") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(blocker) in err and "Traceback" not in err
