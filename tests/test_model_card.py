"""scripts/model_card.py: the wider evaluation table states per draw whether the world beats copy-last."""

from __future__ import annotations


def _report(model: list[float], copy: list[float], seed: int) -> dict:
    bands = ("1", "2-4", "5-16", "17-64")
    return {
        "config": {"steps": 4, "episodes": 64, "seed": seed},
        "psnr": {
            "model": {"bands": dict(zip(bands, model, strict=True))},
            "copy_last": {"bands": dict(zip(bands, copy, strict=True))},
        },
        "idm": {"ratio": 0.951},
    }


def test_wide_table_compares_each_draw_with_its_own_copy_last(load_script):
    card = load_script("model_card")
    text = card._fmt_wide(
        {
            "64 windows, seed 0": _report([49.3, 47.6, 43.4, 35.2], [44.5, 42.2, 37.4, 32.1], 0),
            "16 windows, seed 0": _report([53.8, 52.9, 46.6, 36.4], [50.3, 48.6, 44.9, 36.8], 0),
        }
    )
    lines = text.splitlines()
    row0 = next(x for x in lines if x.startswith("| 64 windows, seed 0"))
    row1 = next(x for x in lines if x.startswith("| 16 windows, seed 0"))
    assert "49.30 (44.50)" in row0 and row0.endswith("| 0.95 | every band |")
    assert row1.endswith("| not at 17-64 |")
    assert card._fmt_wide({}) == ""


def test_motion_table_shows_recall_per_band_and_the_codec_ceiling(load_script):
    card = load_script("model_card")
    bands = ("1", "2-4", "5-16", "17-64")
    report = _report([50.0] * 4, [45.0] * 4, 0)
    report["motion"] = {
        "threshold": 30,
        "pixels": {"model": {"mean": 12.0}, "real": {"mean": 19.0}},
        "ratio": 12 / 19,
        "recall": {
            "model": {"bands": dict(zip(bands, [0.8, 0.6, 0.4, 0.3], strict=True))},
            "copy_last": {"bands": dict(zip(bands, [0.1, 0.05, 0.02, 0.01], strict=True))},
        },
    }
    report["codec_ceiling"] = {"psnr": 30.0, "idm_accuracy": 0.9, "moving_recall": 0.71, "moving_ratio": 0.8}
    text = card._fmt_motion([{"name": "student, 4 steps", "steps": 4, "report": report}])
    assert "| student, 4 steps | 0.800 | 0.600 | 0.400 | 0.300 | 12.0 / 19.0 (ratio 0.63) |" in text
    assert "| copy last frame | 0.100 |" in text and "| codec ceiling | 0.710 (all) |" in text
    del report["motion"]
    assert card._fmt_motion([{"name": "old report", "steps": 4, "report": report}]) == ""


def test_recipe_names_projected_guidance_and_context_noise_only_when_set(load_script):
    card = load_script("model_card")
    assert card._guidance_text({"guidance": 2.0}) == " with action guidance 2 (docs/model.md)"
    text = card._guidance_text({"guidance": {"scale": 2.0, "parallel": 0.0}, "context_noise": 0.15})
    assert text.startswith(" with projected action guidance 2 and context noise 0.15")
    assert card._guidance_text({"guidance": 2.0, "guidance_parallel": 0.0, "context_noise": 0.15}) == text  # old files
    assert "projected action guidance 2 (guidance parallel 0.5)" in card._guidance_text(
        {"guidance": {"scale": 2.0, "parallel": 0.5}}
    )
    assert card._guidance_text({"context_noise": 0.05}) == ""


def test_gpu_speed_is_a_table_with_the_gpu_name_or_says_it_was_not_measured(load_script):
    card = load_script("model_card")
    assert card._gpu_text({"name": "doom", "gpu_speed": None}).startswith("GPU: not measured.")
    row = {"backend": "compile", "steps": 4, "lookahead": 0, "fps": 61.2, "ms_p50": 15.1, "ms_p99": 19.0}
    text = card._gpu_text({"name": "doom", "gpu_speed": [row | {"device": "NVIDIA H100 80GB HBM3"}]})
    assert text.splitlines()[0] == "## Speed (GPU: NVIDIA H100 80GB HBM3, single stream, decode included)"
    assert "| compile | 4 | 0 | 61.2 | 15.1 | 19.0 |" in text


def test_heads_section_lists_old_and_new_heads_per_episode_set(load_script):
    card = load_script("model_card")
    reward = {"mae": 0.04, "mae_zero_baseline": 0.05, "correlation": 0.6, "events": {"recall": 0.7, "precision": 0.5}}
    term = {"recall": float("nan"), "precision": float("nan"), "positives": 0}
    scores = {w: {"data": f"data/{w}", "old": {"reward": reward | {"events": None}, "termination": term, "steps": 9},
                  "new": {"reward": reward, "termination": term, "steps": 9}} for w in ("val", "fresh")}  # fmt: skip
    report = {"steps": 4000, "data": "data/x", "reward_bins": 63, "reward_limit": 7.0, "scores": scores, "extra": 1}
    summary = card.heads_summary(report)
    assert "extra" not in summary and summary["scores"] == scores
    text = card.heads_text(summary)
    rows = [line for line in text.splitlines() if line.startswith("| fresh") or line.startswith("| validation")]
    assert len(rows) == 4 and "| new | 0.0400 | 0.0500 | 0.600 | 0.70 | 0.50 | - of 0 | - |" in rows[1]
    assert "±7 " in text and card.heads_text(None) == ""


def test_wide_table_takes_a_shorter_horizon_and_the_step_count_of_newer_reports(load_script):
    card = load_script("model_card")
    r = _report([30.7, 29.4, 27.4, 26.7], [32.4, 27.0, 26.1, 25.6], 0)
    for k in ("model", "copy_last"):
        r["psnr"][k]["bands"].pop("17-64")
    r["config"] = {"sampling": {"steps": 4}}
    row = next(x for x in card._fmt_wide({"32 frames": r}).splitlines() if x.startswith("| 32 frames"))
    assert row.startswith("| 32 frames | 4 | 30.70 (32.40)") and "| - |" in row and row.endswith("| not at 1 |")


def test_recipe_says_grown_only_when_the_parent_was_shallower(load_script):
    card = load_script("model_card")
    parent = {"depth": 4, "trained_steps": 3000, "train_seconds": 3600, "hardware": "CPU"}
    assert "grown from a depth-4 teacher" in card._grown_text(parent, 8)
    same = card._grown_text(parent, 4)
    assert "trained on from a teacher of the same depth (3000 steps, 1.0 h on CPU)" in same
    assert "identities" not in same
    assert card._grown_text(None, 4) == ""
