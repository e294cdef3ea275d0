"""Write the model card of a shipped world (``assets/<name>/README.md`` and ``card.json``) from its run artefacts.

    python scripts/model_card.py doom --runs runs/doom --data data/doom

Reads the dataset metadata, the codec evaluation, the teacher and student world files (recipe, steps, wall time,
hardware) and the ``worldsim eval`` reports; measures here what no report has yet: closed-loop stability over
2,000 frames with random held actions, and single-stream CPU FPS of the shipped student. Every number in the card
comes from a file or a measurement made by this script.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsim.actions import action_stream
from worldsim.assets import resolve_world
from worldsim.checkpoint import load_checkpoint
from worldsim.data.dataset import Dataset
from worldsim.eval.report import fmt_number as num
from worldsim.eval.stability import closed_loop_stability, real_color_stats
from worldsim.io import atomic_write_bytes, atomic_write_json
from worldsim.rl.figure import is_current, rl_section, world_digest
from worldsim.sampling.config import SamplingConfig, sampling_from_file
from worldsim.sampling.simulator import Simulator

BANDS = ("1", "2-4", "5-16", "17-64")


def _meta(path: Path) -> dict[str, Any]:
    return load_checkpoint(path)[1] if path.is_file() else {}


def _steps(config: dict[str, Any]) -> int:
    """Denoising steps of an eval report (reports before the nested recipe stored them at the top)."""
    return int(config["sampling"]["steps"] if "sampling" in config else config["steps"])


def _eval_rows(evals: dict[str, Path]) -> list[dict[str, Any]]:
    rows = []
    for name, d in evals.items():
        f = d / "eval.json"
        if not f.is_file():
            print(f"warning: no {f}; row {name!r} left out", file=sys.stderr)
            continue
        r = json.loads(f.read_text())
        rows.append({"name": name, "steps": _steps(r["config"]), "report": r})
    return rows


def _fmt_table(rows: list[dict[str, Any]]) -> str:
    head = "| model | steps | " + " | ".join(f"PSNR {b}" for b in BANDS) + " | IDM acc gen / real | reward MAE (zero) |"
    lines = [head, "|" + "---|" * (4 + len(BANDS))]
    if rows:
        cl = rows[0]["report"]["psnr"]["copy_last"]["bands"]
        lines.append("| copy last frame | - | " + " | ".join(f"{cl[b]:.2f}" for b in BANDS) + " | - | - |")
    for row in rows:
        r = row["report"]
        p, idm, rw = r["psnr"]["model"]["bands"], r["idm"], r["reward"]
        lines.append(
            f"| {row['name']} | {row['steps']} | "
            + " | ".join(f"{p[b]:.2f}" for b in BANDS)
            + f" | {idm['generated_accuracy']:.3f} / {idm['real_accuracy']:.3f} (ratio {idm['ratio']:.2f})"
            + f" | {rw['mae']:.3f} ({rw['mae_zero_baseline']:.3f}) |"
        )
    if rows and "codec_ceiling" in rows[0]["report"]:
        c = rows[0]["report"]["codec_ceiling"]
        lines.append(f"| codec ceiling (real frames through the codec) | - | {c['psnr']:.2f} (all) | | | | "
                     f"{c['idm_accuracy']:.3f} / - | - |")  # fmt: skip
    return "\n".join(lines)


def _windows_text(rows: list[dict[str, Any]]) -> str:
    cfg = rows[0]["report"].get("config", {}) if rows else {}
    return f", {cfg['episodes']} windows of seed {cfg.get('seed', 0)}" if "episodes" in cfg else ""


def _fmt_motion(rows: list[dict[str, Any]]) -> str:
    """Moving-pixel recall per band and moving pixels per frame, for reports that have them (see worldsim eval)."""
    rows = [r for r in rows if r["report"].get("motion")]
    if not rows:
        return ""
    head = "| sampler | " + " | ".join(f"recall {b}" for b in BANDS) + " | moving pixels per frame: model / real |"
    lines = [head, "|" + "---|" * (2 + len(BANDS))]
    m = rows[0]["report"]["motion"]
    cl = m["recall"]["copy_last"]["bands"]
    lines.append("| copy last frame | " + " | ".join(f"{cl[b]:.3f}" for b in BANDS) + " | - |")
    for row in rows:
        m = row["report"]["motion"]
        r, px = m["recall"]["model"]["bands"], m["pixels"]
        lines.append(
            f"| {row['name']} | "
            + " | ".join(f"{r[b]:.3f}" for b in BANDS)
            + f" | {px['model']['mean']:.1f} / {px['real']['mean']:.1f} (ratio {m['ratio']:.2f}) |"
        )
    c = rows[0]["report"].get("codec_ceiling") or {}
    if "moving_recall" in c:
        lines.append(f"| codec ceiling | {c['moving_recall']:.3f} (all) | | | | ratio {c['moving_ratio']:.2f} |")
    return (
        f"\n## Moving pixels (changed by {m['threshold']} grey levels or more since the frame before)\n"
        + "\n".join(lines)
        + "\n\nRecall = share of the real frame's moving pixels that the frame shows within that tolerance: where a"
        " small object went and where it left. Whole-frame PSNR hardly sees a two-pixel ball; this does.\n"
    )


def _fmt_wide(wide: dict[str, Any]) -> str:
    """Evaluations on other window draws, each against its own copy-last baseline (bands differ per draw)."""
    if not wide:
        return ""
    head = "| windows | steps | " + " | ".join(f"PSNR {b}" for b in BANDS) + " | IDM ratio | beats copy-last |"
    lines = [head, "|" + "---|" * (4 + len(BANDS))]
    for name, r in wide.items():
        p, cl = r["psnr"]["model"]["bands"], r["psnr"]["copy_last"]["bands"]
        bands = [b for b in BANDS if b in p]  # a shorter horizon has no 17-64 band
        beats = (
            "every band"
            if all(p[b] > cl[b] for b in bands)
            else "not at " + ", ".join(b for b in bands if p[b] <= cl[b])
        )
        # Reports since the sampling recipe went into the config keep the step count there.
        steps = r["config"].get("steps") or r["config"].get("sampling", {}).get("steps")
        lines.append(
            f"| {name} | {steps} | "
            + " | ".join(f"{p[b]:.2f} ({cl[b]:.2f})" if b in p else "-" for b in BANDS)
            + f" | {r['idm']['ratio']:.2f} | {beats} |"
        )
    return (
        "\n## Evaluation on more windows (shipped settings unless the row says otherwise; copy-last in brackets)\n"
        + "\n".join(lines)
        + "\n"
    )


def _fps(world: str, steps: int, lookahead: int, device: str = "cpu", frames: int = 150) -> dict[str, Any]:
    sim = Simulator.load(world, device=device, backend="auto", lookahead=lookahead, sampling={"steps": steps})
    sim.warmup()
    sim.reset_from_starts(seed=0)
    acts = action_stream(frames, len(sim.schema), 8, seed=0)
    lat = []
    for a in acts:
        t0 = time.perf_counter()
        sim.step(int(a))
        lat.append(time.perf_counter() - t0)
    lat = np.array(lat)
    return {"steps": steps, "lookahead": lookahead, "backend": sim.backend.name, "fps": round(len(lat) / lat.sum(), 1),
            "ms_p50": round(1000 * float(np.median(lat)), 2), "ms_p99": round(1000 * float(np.percentile(lat, 99)), 2),
            "threads": torch.get_num_threads(), "load_avg": round(os.getloadavg()[0], 1),
            "cores": os.cpu_count(),
            "device": torch.cuda.get_device_name() if device == "cuda" else "cpu"}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name", help="shipped world name (assets/NAME)")
    p.add_argument("--data", required=True, help="the dataset the world was trained on")
    p.add_argument("--runs", default="", help="train_world.sh run dir (codec/, teacher/, ...)")
    p.add_argument("--codec-eval", default="", help="codec_eval.json (default RUNS/codec/codec_eval.json)")
    p.add_argument("--teacher", default="", help="teacher world file (default RUNS/teacher/world.safetensors)")
    p.add_argument("--student", default="", help="student world file (default RUNS/student/world.safetensors)")
    p.add_argument("--eval", action="append", default=[], metavar="NAME=DIR", help="evaluation report dirs (repeat)")
    p.add_argument(
        "--wide", action="append", default=[], metavar="NAME=DIR", help="evaluations on more windows (repeat)"
    )
    p.add_argument("--stability-frames", type=int, default=2000)
    p.add_argument("--stability-streams", type=int, default=4)
    p.add_argument("--notes", default="", help="markdown file appended as 'Notes and limitations'")
    p.add_argument("--reuse-stability", action="store_true", help="keep the stability result of the existing card.json")
    p.add_argument(
        "--long-stability", default="", metavar="JSON",
        help="scripts/stability.py report of 10,000-frame rollouts (default: keep the existing card.json's)",
    )  # fmt: skip
    p.add_argument("--long-data", default="", help="what --long-stability's colour range came from, for the card")
    p.add_argument(
        "--heads", default="", metavar="JSON",
        help="heads_eval.json of `worldsim heads` (default RUNS/heads/heads_eval.json if present)",
    )  # fmt: skip
    p.add_argument(
        "--reuse-speed", action="store_true", help="keep the CPU (and GPU) speed results of the existing card.json"
    )
    args = p.parse_args(argv)

    runs = Path(args.runs) if args.runs else None
    codec_eval = Path(args.codec_eval or (runs / "codec" / "codec_eval.json" if runs else ""))
    teacher = Path(args.teacher or (runs / "teacher" / "world.safetensors" if runs else ""))
    student = Path(args.student or (runs / "student" / "world.safetensors" if runs else ""))
    evals = (
        dict(e.split("=", 1) for e in args.eval)
        if args.eval
        else {f"student, {s} step{'s' * (s > 1)}": runs / f"eval-student{s}" for s in (4, 2, 1)}
        | {"teacher": runs / "eval-teacher"}
    )
    evals = {k: Path(v) for k, v in evals.items()}

    files = resolve_world(args.name)
    ds = Dataset(args.data)
    summary = ds.summary()
    codec = json.loads(codec_eval.read_text()) if codec_eval.is_file() else {}
    tmeta, smeta = _meta(teacher), _meta(student)
    rows = _eval_rows(evals)
    wide = {
        row["name"]: row["report"] for row in _eval_rows({k: Path(v) for k, v in (e.split("=", 1) for e in args.wide)})
    }

    sim = Simulator.load(args.name, num_streams=args.stability_streams, device="cpu", backend="eager")
    old = files.world.parent / "card.json"
    old_card = json.loads(old.read_text()) if old.is_file() else {}
    if args.reuse_stability and old.is_file():
        stability = old_card["stability"]
    else:
        print("measuring closed-loop stability ...", file=sys.stderr)
        stability = closed_loop_stability(sim, real_color_stats(ds), frames=args.stability_frames)
    settings = [(sim.world.sampling.steps, 0), (sim.world.sampling.steps, 2), (1, 2)]  # (steps, lookahead)
    if args.reuse_speed and old.is_file():
        speed, gpu_speed = (old_card.get(k) for k in ("cpu_speed", "gpu_speed"))
    else:
        print("measuring CPU speed ...", file=sys.stderr)
        speed = [_fps(args.name, steps, la) for steps, la in settings]
        gpu_speed = None
        if torch.cuda.is_available():
            print("measuring GPU speed ...", file=sys.stderr)
            gpu_speed = [_fps(args.name, steps, la, device="cuda") for steps, la in settings]

    card = {
        "name": args.name,
        "data": {
            **{k: summary.get(k) for k in ("path", "world", "resolution", "actions", "episodes", "steps")},
            "policies": ds.meta.get("collect", {}).get("settings", {}).get("policy"),
        },
        "codec": {
            k: codec.get(k) for k in ("step", "val_psnr", "decode_ms", "timing", "latent_shape", "train_seconds")
        },
        "teacher": {
            k: tmeta.get(k) for k in ("trained_steps", "train_seconds", "hardware", "dynamics_config", "parent")
        },
        # Sampling defaults are the shipped file's: packaging may set them (package_world.py --sampling).
        "student": {k: smeta.get(k) for k in ("trained_steps", "train_seconds", "hardware", "refiner")}
        | {"sampling": _meta(files.world).get("sampling")},
        "evaluation": {row["name"]: row["report"] for row in rows},
        "wide_evaluation": wide,
        "stability": stability,
        "cpu_speed": speed,
        "gpu_speed": gpu_speed,
        "files": {p.name: round(p.stat().st_size / 2**20, 1) for p in files.world.parent.iterdir() if p.is_file()},
    }
    heads = Path(args.heads or (runs / "heads" / "heads_eval.json" if runs else ""))
    if heads.is_file():
        card["heads"] = heads_summary(json.loads(heads.read_text()))
    if args.long_stability:  # the simulator warns about step counts this section calls unsafe
        report = json.loads(Path(args.long_stability).read_text())
        card["long_stability"] = {"data": args.long_data or report.get("data", "real frames"), "rows": report["rows"]}
    elif "long_stability" in old_card:
        card["long_stability"] = old_card["long_stability"]
    # The RL figure is kept only while it describes this very world file and start states (else "not measured").
    old_rl = old_card.get("rl")
    digest = world_digest(files)
    if is_current(old_rl, digest):
        card["rl"] = old_rl
    out = files.world.parent
    atomic_write_json(out / "card.json", card)
    atomic_write_bytes(out / "README.md", _markdown(card, args, rl_section(old_rl, digest, args.name)).encode())
    print(f"model card: {out / 'README.md'}")
    return 0


def heads_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The card's record of a ``worldsim heads`` run: its settings and the old and new heads' scores."""
    keep = ("steps", "train_seconds", "data", "reward_bins", "reward_limit", "term_share", "term_logit_shift")
    return {k: report.get(k) for k in keep} | {"scores": report.get("scores", {})}


def heads_text(heads: dict[str, Any] | None) -> str:
    """Markdown section of the reward and termination heads (``worldsim heads``), when the card has one."""
    if not heads:
        return ""
    lines = [
        "\n## Reward and termination heads",
        f"Retrained with the world frozen (`worldsim heads`, docs/model.md): {heads.get('steps')} steps on "
        f"`{heads.get('data')}`, a distribution over {heads.get('reward_bins')} reward values up to "
        f"±{heads.get('reward_limit'):g} (its mean is the reward), termination calibrated after oversampling "
        f"terminal windows ({heads.get('term_share') or 0:g} of each batch). Scores per step on real "
        "frames read as the commit pass reads them (events: steps whose reward is off the usual value):",
        "",
        "| episodes | heads | reward MAE | always-zero MAE | correlation | events found | event precision | "
        "terminations found | termination precision |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    for where, sc in heads.get("scores", {}).items():
        label = f"{'fresh' if where == 'fresh' else 'validation'} (`{sc.get('data')}`, {sc['new']['steps']:,} steps)"
        for which in ("old", "new"):
            r, d = sc[which]["reward"], sc[which]["termination"]
            ev = r.get("events") or {}
            lines.append(
                f"| {label} | {which} | {num(r['mae'], 4)} | {num(r['mae_zero_baseline'], 4)} | "
                f"{num(r['correlation'], 3)} | {num(ev.get('recall'), 2)} | {num(ev.get('precision'), 2)} | "
                f"{num(d['recall'], 2)} of {d['positives']} | {num(d['precision'], 2)} |"
            )
    return "\n".join(lines) + "\n"


def _refiner_line(r: dict[str, Any] | None) -> str:
    if not r:
        return "- No refiner: each frame is decoded from its latent alone."
    return (
        f"- Refiner (`worldsim refine`): decodes each frame after the one shown before it; {r.get('steps')} steps,\n"
        f"  {r.get('train_seconds', 0) / 3600:.1f} h; PSNR of 16-frame validation chains decoded from real latents: "
        f"{r.get('val_psnr', 0):.2f} dB"
        + (f" refined, {r['val_psnr_plain']:.2f} dB plain." if "val_psnr_plain" in r else ".")
    )


def _hours(seconds: float | None) -> str:
    return f"{seconds / 3600:.1f} h" if seconds else "unknown"


def _grown_text(parent: dict[str, Any] | None, depth: int | None = None) -> str:
    """How a teacher trained on from another world (``init_from``, deeper or not) started, for the recipe line."""
    if not parent:
        return ""
    run = (
        f"{parent.get('trained_steps')} steps, {_hours(parent.get('train_seconds'))} on "
        f"{parent.get('hardware') or 'unknown hardware'}"
    )
    if depth is not None and parent.get("depth") == depth:
        return f"trained on from a teacher of the same depth ({run}), then "
    return (
        f"grown from a depth-{parent.get('depth')} teacher ({run}; the new blocks start as identities, "
        "docs/model.md), then "
    )


def _long_stability_text(long: dict[str, Any] | None) -> str:
    """The section of 10,000-frame rollouts per step count (``scripts/stability.py``), when the card has one."""
    if not long:
        return ""
    rows = long["rows"]
    first = next(iter(rows.values()))
    lines = [
        f"\n### Long rollouts ({first['streams']} streams x {first['frames']:,} frames per step count; "
        f"`scripts/stability.py`, colour range from {long.get('data', 'real frames')})",
        "| steps | in range (all frames) | in range (last tenth) | first frame out of range | NaN frames | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for steps, r in sorted(rows.items(), key=lambda kv: int(kv[0])):
        first_out = r["first_problem_frame"].get("out_of_range")
        lines.append(
            f"| {steps} | {100 * r['in_range_fraction']:.1f}% | {100 * r.get('tail_in_range_fraction', 0):.1f}% | "
            f"{'-' if first_out is None else first_out} | {r['nan_frames']} | "
            f"{'safe' if r['passed'] else '**not safe for long play**'} |"
        )
    safe = [k for k, r in sorted(rows.items(), key=lambda kv: int(kv[0])) if r["passed"]]
    lines.append(
        f"\nStep counts that hold {first['frames']:,} frames: {', '.join(safe) or 'none'}."
        + ("" if len(safe) == len(rows) else " The others drift off the real colour range in long play.")
    )
    return "\n".join(lines) + "\n"


def _recipe_steps(stored: dict[str, Any] | None) -> int:
    return sampling_from_file(stored or {}, where="card sampling")[0].steps


def _guidance_text(stored: dict[str, Any] | None) -> str:
    """The recipe line's sampling part, from a world file's stored recipe (flat keys of older files map too)."""
    recipe, _ = sampling_from_file(stored or {}, where="card sampling")
    default = SamplingConfig()
    g, h = recipe.guidance, recipe.hold
    parts = []
    if g.enabled:
        kind = "" if g.parallel == 1.0 else "projected "
        partial = f" (guidance parallel {g.parallel:g})" if 0.0 < g.parallel < 1.0 else ""
        parts.append(f"{kind}action guidance {g.scale:g}{partial}")
    if recipe.context_noise != default.context_noise:
        parts.append(f"context noise {recipe.context_noise:g}")
    if h.threshold > 0:
        where = f", {h.region_threshold:g} in region {list(h.region)}" if h.region else ""
        region_still = f" (the region too, below {h.still_region * 100:g}%)" if h.still_region else ""
        still = f", still frames below {h.still * 100:g}% changed{region_still}" if h.still else ""
        snap = f", redrawn pixels within {h.snap:g} levels of the start frame snapped to it" if h.snap else ""
        parts.append(f"pixel hold at {h.threshold:g} grey levels{where}{still}{snap}")
    return f" with {' and '.join(parts)} (docs/model.md)" if parts else ""


def _gpu_text(card: dict[str, Any]) -> str:
    rows = card.get("gpu_speed")
    if not rows:
        return (
            "GPU: not measured. The machine that made this card had no CUDA device; running this script on one adds\n"
            f"the GPU table (or `worldsim bench {card['name']} --device cuda`; GPU figures go in `docs/benchmarks.md`)."
        )
    return f"""## Speed (GPU: {rows[0]["device"]}, single stream, decode included)

| backend | steps | speculative | FPS | ms p50 | ms p99 |
|---|---|---|---|---|---|
{_speed_rows(rows)}"""


def _speed_rows(rows: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"| {x['backend']} | {x['steps']} | {x['lookahead']} | {x['fps']} | {x['ms_p50']} | {x['ms_p99']} |"
        for x in rows
    )


def _timing_text(timing: dict[str, Any] | None) -> str:
    if not timing:
        return "timing setup not recorded"
    threads = timing.get("threads")
    on = f", {threads} thread{'s' if threads != 1 else ''}" if timing.get("device") == "cpu" and threads else ""
    return f"{timing.get('device', 'cpu')}{on}, batch {timing.get('batch_size', 1)}"


def _markdown(card: dict[str, Any], args: argparse.Namespace, rl: str) -> str:
    d, c, t, s, st = card["data"], card["codec"], card["teacher"], card["student"], card["stability"]
    dyn = t.get("dynamics_config") or {}
    rows = [{"name": k, "steps": _steps(v["config"]), "report": v} for k, v in card["evaluation"].items()]
    notes = Path(args.notes).read_text() if args.notes else ""
    return f"""# `{card["name"]}` world

Learned from the real simulator by WorldSim. Play it with `worldsim play {card["name"]}`; train agents in it with
`gym.make("WorldSim-v0", world="{card["name"]}")`. Regenerate every file here with
`scripts/train_world.sh {card["name"]}` (numbers below come from `card.json`, written by `scripts/model_card.py`).

## Data
{d.get("episodes")} episodes, {d.get("steps")} transitions at {d.get("resolution")} from `{d.get("world")}`,
recorded with `worldsim collect` (policy mix: {d.get("policies")}); actions: {", ".join(d.get("actions") or [])}.

## Recipe
- Codec: {c.get("latent_shape")} latents, {c.get("step")} steps, validation PSNR {c.get("val_psnr") or 0:.2f} dB,
  decode {c.get("decode_ms") or 0:.2f} ms/frame ({_timing_text(c.get("timing"))}).
- Teacher: dynamics transformer dim {dyn.get("dim")}, depth {dyn.get("depth")}, context {dyn.get("context_frames")}
  frames; {_grown_text(t.get("parent"), dyn.get("depth"))}{t.get("trained_steps")} steps, \
{_hours(t.get("train_seconds"))} on {t.get("hardware") or "unknown hardware"}.
- Student (shipped `world.safetensors`): shortcut distillation, {s.get("trained_steps")} steps,
  {_hours(s.get("train_seconds"))} on {s.get("hardware") or "unknown hardware"};
  default {_recipe_steps(s.get("sampling"))} denoising steps{_guidance_text(s.get("sampling"))}.
{_refiner_line(s.get("refiner"))}

## Evaluation (held-out episodes, open loop, 64 frames{_windows_text(rows)})
{_fmt_table(rows)}

PSNR in dB per horizon band (frames after the real context); IDM = inverse-dynamics classifier accuracy on
generated vs real frame pairs (action following); reward MAE vs predicting zero.
{_fmt_motion(rows)}{_fmt_wide(card.get("wide_evaluation") or {})}
## Closed-loop stability ({st["streams"]} streams x {st["frames"]} frames, random held actions)
NaN frames: {st["nan_frames"]}; flat frames: {st["flat_frames"]}; frames with colour means inside the real data's range:
{100 * st["in_range_fraction"]:.1f}% -> **{"passed" if st["passed"] else "FAILED"}**.
{_long_stability_text(card.get("long_stability"))}{heads_text(card.get("heads"))}
## Speed (CPU, single stream, decode included)
Measured by this script on {card["cpu_speed"][0].get("cores")} cores at load average
{card["cpu_speed"][0].get("load_avg")} (other jobs running make these numbers lower; `worldsim bench {card["name"]}`
measures on a quiet machine).

| backend | steps | speculative | FPS | ms p50 | ms p99 |
|---|---|---|---|---|---|
{_speed_rows(card["cpu_speed"])}

{_gpu_text(card)}

{rl}
## Files
{chr(10).join(f"- `{k}`: {v} MB" for k, v in sorted(card["files"].items()))}
{(chr(10) + "## Notes and limitations" + chr(10) + chr(10) + notes) if notes else ""}"""


if __name__ == "__main__":
    sys.exit(main())
