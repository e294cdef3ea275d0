"""``worldsim play``: play a learned world live in a window, or headless from an action file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from worldsim.cli.fields import add_config_args, config_from_args
from worldsim.cli.sampling_args import add_sampling_args, sampling_overrides
from worldsim.play.config import PlayConfig

_METAVARS = {"speculative": "N", "keys": "FILE", "policy": "NAME|FILE", "replay": "DATASET_DIR:EPISODE|FILE",
             "record": "DIR", "actions": "FILE"}  # fmt: skip

EPILOG = """examples:
  worldsim play                                    drive the shipped CarRacing world (arrows/WASD, H for help)
  worldsim play runs/carracing/world.safetensors --steps 2 --speculative 2
  worldsim play --side-by-side                     the real simulator beside it, driven by the same keys
  worldsim play --policy pilot                     watch the pilot drive from the generated frames (CarRacing)
  worldsim play breakout --policy pilot            watch the Breakout pilot play from the generated frames
  worldsim play --policy scripted                  watch the scripted driver (it steers the real simulator)
  worldsim play --policy runs/agent/model/agent.safetensors   watch a trained agent (scripts/train_agent.py)
  worldsim play --replay data/carracing:3          replay episode 3 of a dataset next to the recording
  worldsim play --keys my_keys.yaml --record runs/session1
  worldsim play --headless --actions drive.txt --out video.mp4   no display: video + timings JSON

keys (defaults; rebind with --keys FILE): the world's actions on arrows/WASD (see `worldsim worlds`),
  H help, Tab HUD, R reset, P pause, N single step, [ ] denoising steps, L speculation,
  C controller (human/policy/replay), V side by side, F12 screenshot, F9 record, Esc quit"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``play`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "play",
        help="play a learned world live with the keyboard (or headless from an action file)",
        description=(
            "Open a window and generate frames live from the keys held. The world warms up behind a loading\n"
            "screen first. HUD: FPS, model ms, denoising steps, speculative acceptance, action, predicted\n"
            "reward/return and termination. Recording writes an mp4 with the actions drawn and a dataset episode."
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument("world", nargs="?", default=None, help="shipped world name or checkpoint path (default: carracing)")
    add_config_args(p, PlayConfig, exclude=("world", "sampling"), metavars=_METAVARS)
    add_sampling_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Play in a window, or headless."""
    from worldsim.io import writable_dir
    from worldsim.play.config import build_session

    cfg = config_from_args(PlayConfig, args, "play options", sampling=sampling_overrides(args))
    # Output places are checked before the world loads and warms up (seconds), not when the first file is written.
    if cfg.headless:
        writable_dir(Path(cfg.out).parent)
    if cfg.record:
        writable_dir(cfg.record)
    if cfg.headless:
        from worldsim.play.headless import run_headless

        report = run_headless(build_session(cfg, keyboard=False), cfg.out, cfg.frames, record=cfg.record)
        keys = ("frames", "fps_mean", "fps_p50", "fps_p99", "acceptance_rate", "steps", "lookahead", "backend")
        print(json.dumps({k: report[k] for k in keys}))
        print(f"wrote {report['video']} and {cfg.out.rsplit('.', 1)[0]}.json")
        return 0
    from worldsim.play.app import PlayApp
    from worldsim.play.window import init_display

    session = build_session(cfg)  # checks the world, key file, policy and replay first (fast)
    init_display()  # then the display, before the warm-up
    summary = PlayApp(session, scale=cfg.scale, record=cfg.record).run()
    print(json.dumps(summary))
    return 0
