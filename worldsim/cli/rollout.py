"""``worldsim rollout``: run driving scenarios on a world model and next to the real simulator."""

from __future__ import annotations

import argparse

from worldsim.cli.sampling_args import add_sampling_args, sampling_overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``rollout`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "rollout",
        help="run scenario files: what-if branches, side-by-side videos and reports",
        description=(
            "Run scenario files (docs/scenarios.md): start from real simulator frames, play each branch's action\n"
            "program on the world model (all branches x samples batched as streams of one simulator) and in the\n"
            "real simulator with the same actions. Writes per scenario OUT/NAME/rollout.mp4 (model | real side by\n"
            "side), branches.png (contact sheet), psnr.png and report.json (per-frame PSNR/SSIM vs the real\n"
            "simulator, model FPS, predicted rewards and terminations), and OUT/index.html over all of them.\n"
            "A failed scenario is reported and the others still run (exit code 1). Finished scenarios are skipped\n"
            "on a re-run unless --force.\n\n"
            "SCENARIO is a .yaml file, a directory of them, or the name of a shipped scenario (--list)."
        ),
        epilog=(
            "examples:\n"
            "  worldsim rollout --list\n"
            "  worldsim rollout carracing_curve_right --out out/rollouts\n"
            "  worldsim rollout assets/scenarios --out out/rollouts --samples 2\n"
            "  worldsim rollout my_scenario.yaml --out out/mine --force --steps 2"
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario files, directories or shipped names")
    p.add_argument("--out", default="out/rollouts", help="output directory")
    p.add_argument("--force", action="store_true", help="run scenarios again even if their outputs are complete")
    p.add_argument("--samples", type=int, help="model samples per branch (default: each scenario's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--backend", default="eager", help="eager, auto, compile, onnx, tensorrt")
    p.add_argument("--list", action="store_true", help="list the shipped scenarios and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_sampling_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the scenarios, print one line per scenario; exit 1 when any failed."""
    from worldsim.errors import ConfigError
    from worldsim.io import writable_dir
    from worldsim.rollout import RunOptions, SuiteOptions, find_scenarios, run_suite, shipped_scenarios

    if args.list:
        return _list(shipped_scenarios())
    if not args.scenarios:
        raise ConfigError("no SCENARIO given; pass scenario files or shipped names (`worldsim rollout --list`)")
    if args.samples is not None and args.samples < 1:
        raise ConfigError(f"--samples must be >= 1, got {args.samples}")
    files = find_scenarios(args.scenarios)
    writable_dir(args.out)  # before any model runs
    options = SuiteOptions(
        out=args.out,
        force=args.force,
        progress=not args.no_progress,
        run=RunOptions(
            device=args.device,
            backend=args.backend,
            sampling=sampling_overrides(args),
            samples=args.samples,
            progress=not args.no_progress,
        ),
    )
    outcomes = run_suite(files, options)
    print(format_outcomes(outcomes))
    print(f"index: {options.out}/index.html")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def format_outcomes(outcomes: list) -> str:
    """A plain table: scenario, status, model FPS, mean PSNR vs real (and the error of failed ones)."""
    lines = [f"{'scenario':<28} {'status':<8} {'model fps':>9} {'psnr dB':>8} {'ssim':>6}"]
    for o in outcomes:
        perf = o.report.get("performance") or {}
        summary = o.report.get("summary") or {}
        fps, p, s = perf.get("model_fps"), summary.get("psnr_mean"), summary.get("ssim_mean")
        lines.append(
            f"{o.name:<28} {o.status:<8} {_num(fps, 1):>9} {_num(p, 2):>8} {_num(s, 3):>6}"
            + (f"  {o.error}" if o.error else "")
        )
    return "\n".join(lines)


def _list(shipped: dict) -> int:
    from worldsim.errors import Error
    from worldsim.rollout import load_scenario

    for name, path in shipped.items():
        try:
            sc = load_scenario(path)
            print(f"{name:<28} {sc.world:<10} {len(sc.branches)} branches  {sc.description}")
        except Error as e:  # a broken shipped file still shows up, with its problem
            print(f"{name:<28} (invalid: {e})")
    return 0


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
