"""The RL figure: several training seeds in one command, a record tied to the world file it was measured on."""

import json

import numpy as np
import pytest

from worldsim.rl.figure import BEGIN, END, is_current, put_section, rl_section, summarise


def test_summarise_means_over_seeds_and_normalises():
    base = {"random": [0.0, 2.0], "scripted": [10.0, 10.0]}
    agents = {"model": {0: [4.0, 6.0], 1: [8.0, 8.0]}, "real": {0: [5.0, 5.0], 1: [7.0, 7.0]}}
    fig = summarise(base, agents)
    rows = fig["rows"]
    assert rows["random"]["mean"] == 1.0
    assert rows["model"]["seeds"] == {0: 5.0, 1: 8.0}
    assert rows["model"]["mean"] == 6.5 and rows["model"]["sd_seeds"] == pytest.approx(np.std([5.0, 8.0], ddof=1))
    assert rows["model"]["episodes"] == 2
    assert fig["normalised"]["vs_real_trained"] == pytest.approx((6.5 - 1) / (6.0 - 1))
    assert fig["normalised"]["vs_scripted"] == pytest.approx((6.5 - 1) / (10.0 - 1))
    # no real-trained reference: that ratio is undefined (None in JSON), not a number from nowhere
    assert summarise(base, {"model": agents["model"]})["normalised"]["vs_real_trained"] is None
    assert summarise(base, {"model": {0: [4.0, 6.0]}})["rows"]["model"]["sd_seeds"] is None  # one seed: no spread


A, B = {"world_sha256": "a" * 64, "starts_sha256": "c" * 64}, {"world_sha256": "b" * 64, "starts_sha256": "c" * 64}


def _record(digest: dict) -> dict:
    fig = summarise({"random": [0.0, 1.0]}, {"model": {0: [3.0, 5.0]}})
    return {
        "world": "toy",
        **digest,
        "real_world": "toy",
        "measured": "2026-12-06",
        "machine": "cpu",
        "command": "python scripts/rl_figure.py toy",
        "training": {"seeds": [0], "steps": 64, "num_envs": 4, "episode_steps": 16, "frame_stack": 2},
        "protocol": {"eval_seeds": [5, 6], "actions": "sampled", "source": "max_episode_steps 50"},
        "reference": None,
        **fig,
    }


def test_a_changed_world_shows_no_old_figure():
    record = _record(A)
    shown = rl_section(record, A, "toy")
    assert "| PPO trained **in the world**, 64 steps | 4.0 |" in shown
    stale = rl_section(record, B, "toy")
    assert "Not measured for this world" in stale and "4.0" not in stale
    new_starts = {**A, "starts_sha256": "d" * 64}  # agents train from the starts: new starts, no old figure
    assert "Not measured for this world" in rl_section(record, new_starts, "toy")
    assert "Not measured yet" in rl_section(None, B, "toy")


def test_put_section_replaces_in_place():
    text = "# card\n\n## Speed\nfast\n"
    once = put_section(text, rl_section(_record(A), A, "toy"))
    assert once.startswith(text.rstrip("\n")) and once.count(BEGIN) == 1
    middle = once + "\n## Notes\nkept\n"
    twice = put_section(middle, rl_section(_record(A), B, "toy"))
    assert twice.count(BEGIN) == 1 and twice.count(END) == 1
    assert "Not measured for this world" in twice and twice.endswith("## Notes\nkept\n") and "## Speed\nfast" in twice


def test_shipped_cards_carry_only_figures_of_their_own_world():
    from worldsim.assets import resolve_world, shipped_worlds

    for name in shipped_worlds():
        folder = resolve_world(name).world.parent
        card = json.loads((folder / "card.json").read_text())
        if "rl" in card:
            sums = json.loads((folder / "checksums.json").read_text())
            digest = {"world_sha256": sums["world.safetensors"], "starts_sha256": sums["starts.safetensors"]}
            assert is_current(card["rl"], digest), f"{name}: its card's RL figure was measured on other files"
            assert BEGIN in (folder / "README.md").read_text()


def test_rl_figure_tiny_run(tiny_world, tmp_path, load_script):
    pytest.importorskip("stable_baselines3")
    script = load_script("rl_figure")
    out = tmp_path / "fig"
    argv = [str(tiny_world), "--out", str(out), "--seeds", "0", "1", "--steps", "32", "--real-steps", "32"]
    argv += ["--num-envs", "2", "--episode-steps", "8", "--eval-episodes", "2", "--eval-max-steps", "20"]
    argv += ["--n-steps", "16", "--batch-size", "16", "--epochs", "1", "--real-envs", "2", "--device", "cpu"]
    assert script.main(argv) == 0
    record = json.loads((out / "rl.json").read_text())
    assert record["real_world"] == "toy" and record["training"]["seeds"] == [0, 1]
    assert record["training"]["train_args"][:2] == ["--n-steps", "16"]  # passed through to train_agent.py
    assert set(record["rows"]) == {"random", "scripted", "model", "real"}
    assert set(record["rows"]["model"]["seeds"]) == {"0", "1"}  # one agent per training seed, via JSON
    assert record["protocol"]["eval_seeds"] == [10000, 10001] and record["protocol"]["eval_max_steps"] == 20
    paid = record["in_world"]
    assert paid["episode_steps"] == 8 and set(paid["rows"]) == {"noop", "random", "model"}
    assert paid["rows"]["noop"]["streams"] == 2 and set(paid["rows"]["model"]["seeds"]) == {"0", "1"}
    assert "Paid inside the world" in (out / "rl.md").read_text()
    from worldsim.assets import resolve_world
    from worldsim.rl.figure import file_sha256

    files = resolve_world(str(tiny_world))
    assert record["world_sha256"] == file_sha256(files.world)
    assert record["starts_sha256"] == file_sha256(files.starts)
    for seed in (0, 1):
        assert json.loads((out / f"seed-{seed}" / "model" / "train.json").read_text())["env_steps"] == 32
    # re-running resumes: nothing is trained or evaluated again
    evals = {p.name: p.stat().st_mtime_ns for p in (out / "eval").iterdir()}
    assert script.main(argv) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "eval").iterdir()} == evals
    # --card is for shipped worlds only: one line, no traceback
    assert script.main([*argv, "--card"]) == 2


def test_imagined_returns_pay_noop_and_random_per_stream(tiny_world):
    from worldsim.errors import ConfigError
    from worldsim.rl.evaluate import imagined_returns

    noop = imagined_returns(str(tiny_world), "noop", num_envs=3, episode_steps=5, device="cpu")
    assert len(noop) == 3 and all(np.isfinite(noop))
    assert imagined_returns(str(tiny_world), "noop", num_envs=3, episode_steps=5, device="cpu") == noop  # seeded
    assert len(imagined_returns(str(tiny_world), "random", num_envs=2, episode_steps=4, device="cpu")) == 2
    with pytest.raises(ConfigError, match="noop, random"):
        imagined_returns(str(tiny_world), "still", num_envs=2, episode_steps=4)


def test_figure_says_what_the_world_pays_for_doing_nothing():
    from worldsim.rl.figure import _in_world_lines

    assert _in_world_lines(None) == []
    rows = {"noop": {"mean": 7.2, "streams": 16}, "random": {"mean": 3.8, "streams": 16}, "model": {"mean": 10.4}}
    text = "\n".join(_in_world_lines({"episode_steps": 200, "rows": rows}))
    assert "per 200-step imagined episode (16 streams" in text
    assert "the `noop` action every step 7.2, uniform random 3.8, the trained agents 10.4" in text
