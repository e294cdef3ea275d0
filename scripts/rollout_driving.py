"""Run every shipped driving scenario (assets/scenarios: carracing and highway) into one output directory.

A thin wrapper around ``worldsim rollout``: same outputs (per scenario rollout.mp4, branches.png, psnr.png,
report.json; OUT/index.html), same skip-if-finished behaviour. Scenarios whose model is not shipped yet
(highway) fail with a one-line reason and still get their real-simulator half.

    python scripts/rollout_driving.py --out out/driving
    python scripts/rollout_driving.py --out out/driving --world carracing --samples 2 --force
"""

from __future__ import annotations

import argparse
import sys

from worldsim.cli import main as worldsim_main
from worldsim.rollout import load_scenario, shipped_scenarios

DRIVING_WORLDS = ("carracing", "highway")


def driving_scenarios(worlds: tuple[str, ...] = DRIVING_WORLDS) -> list[str]:
    """Files of the shipped scenarios whose source world is one of ``worlds``."""
    return [str(path) for path in shipped_scenarios().values() if load_scenario(path).world in worlds]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out/driving", help="output directory")
    parser.add_argument("--world", choices=DRIVING_WORLDS, action="append", help="only these worlds (repeatable)")
    parser.add_argument("--force", action="store_true", help="run finished scenarios again")
    parser.add_argument("--samples", type=int, help="model samples per branch (default: each scenario's)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--backend", default="eager", help="eager, auto, compile, onnx, tensorrt")
    args = parser.parse_args(argv)
    files = driving_scenarios(tuple(args.world or DRIVING_WORLDS))
    forwarded = ["--out", args.out, "--device", args.device, "--backend", args.backend]
    for name in ("samples", "steps"):
        if getattr(args, name) is not None:
            forwarded += [f"--{name}", str(getattr(args, name))]
    if args.force:
        forwarded.append("--force")
    return worldsim_main(["rollout", *files, *forwarded])


if __name__ == "__main__":
    sys.exit(main())
