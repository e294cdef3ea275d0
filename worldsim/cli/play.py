"""``worldsim play``: play a learned world live in a window, or headless from an action file."""

from __future__ import annotations

import argparse
import json

EPILOG = """examples:
  worldsim play                                    drive the shipped CarRacing world (arrows/WASD, H for help)
  worldsim play runs/carracing/world.safetensors --steps 2 --speculative 2
  worldsim play --side-by-side                     the real simulator beside it, driven by the same keys
  worldsim play --policy scripted                  watch the scripted driver (it steers the real simulator)
  worldsim play --policy runs/agent/model/agent.zip   watch a trained agent (scripts/train_agent.py)
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
    p.add_argument("world", nargs="?", default=None, help="shipped world name or checkpoint path (None: carracing)")
    p.add_argument("--steps", type=int, help="denoising steps per frame (None: the world's)")
    p.add_argument("--speculative", type=int, default=0, metavar="N", help="speculative lookahead (0: off; L toggles)")
    p.add_argument("--backend", default="auto", help="auto, eager, compile, onnx, tensorrt")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--scale", type=int, default=8, help="window pixels per model pixel")
    p.add_argument("--fps", type=float, help="target frame rate (None: the world's; 0: unpaced)")
    p.add_argument("--keys", metavar="FILE", help="key rebinding file (YAML or TOML; see docs/play.md)")
    p.add_argument("--policy", metavar="NAME|FILE", help="policy controller: random, scripted, or an agent .zip")
    p.add_argument("--replay", metavar="DATASET_DIR:EPISODE|FILE", help="replay a dataset episode or an action file")
    p.add_argument("--side-by-side", action="store_true", help="show the real simulator beside the learned world")
    p.add_argument("--record", metavar="DIR", help="record from the start into DIR (mp4 + dataset episodes)")
    p.add_argument("--save-dir", default="worldsim-play", help="where screenshots and F9 recordings go")
    p.add_argument("--seed", type=int, default=0, help="first start state and sampling noise")
    p.add_argument("--headless", action="store_true", help="no window: play --actions and write --out")
    p.add_argument("--actions", metavar="FILE", help="action file for --headless (one action[,frames] per line)")
    p.add_argument("--out", default="play.mp4", help="headless video (timings go to the same name .json)")
    p.add_argument("--frames", type=int, default=300, help="headless frames with --policy")
    p.add_argument("--cache-dir", help="exported programs (None: ~/.cache/worldsim/programs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Play in a window, or headless."""
    from worldsim.play.config import PlayConfig, build_session

    cfg = PlayConfig(
        world=args.world,
        steps=args.steps,
        speculative=args.speculative,
        backend=args.backend,
        device=args.device,
        scale=args.scale,
        fps=args.fps,
        keys=args.keys,
        policy=args.policy,
        replay=args.replay,
        side_by_side=args.side_by_side,
        record=args.record,
        save_dir=args.save_dir,
        seed=args.seed,
        headless=args.headless,
        actions=args.actions,
        out=args.out,
        frames=args.frames,
        cache_dir=args.cache_dir,
    )
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
