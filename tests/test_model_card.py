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
