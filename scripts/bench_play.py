"""Play-loop FPS of a world: steps x speculation, interleaved in rounds so machine load hits every config alike.

Each round plays the same action file once per configuration through the headless play session (the loop
`worldsim play --headless` runs: controller, simulator step, decode, video overlay), unpaced. Reports the
frame rate per configuration (median of the rounds' mean FPS, and p50/p99 over all frames) as a Markdown
table and JSON.

    python scripts/bench_play.py --world carracing --actions docs/play-drive.txt --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from worldsim.play.config import PlayConfig, build_session
from worldsim.play.recorder import label_frame


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="carracing")
    p.add_argument("--actions", default="docs/play-drive.txt")
    p.add_argument("--steps", default="4,1")
    p.add_argument("--lookahead", default="0,2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--backend", default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="runs/bench-play.json")
    args = p.parse_args()
    configs = [(int(s), int(la)) for s in args.steps.split(",") for la in args.lookahead.split(",")]
    spec = max(la for _, la in configs) or 2
    session = build_session(
        PlayConfig(
            world=args.world,
            actions=args.actions,
            headless=True,
            speculative=spec,
            backend=args.backend,
            device=args.device,
        ),
        keyboard=False,
    )
    session.start()
    times: dict[tuple[int, int], list[list[float]]] = {c: [] for c in configs}
    accepted: dict[tuple[int, int], list[float]] = {c: [] for c in configs}
    load = [os.getloadavg()[0]]
    for r in range(args.rounds):
        for steps, la in configs:
            session.sim.steps = steps
            session.set_speculation(la > 0)
            session.controllers.select("replay")
            session.new_episode(0)
            walls, acc = [], []
            while True:
                t0 = time.perf_counter()
                if not session.update():
                    break
                label_frame(session.view(), session.video_lines(), 4)
                walls.append(time.perf_counter() - t0)
                acc.append(session.accepted)
            times[(steps, la)].append(walls)
            accepted[(steps, la)].append(float(np.mean(acc)))
            print(f"round {r} steps {steps} lookahead {la}: {len(walls) / sum(walls):.1f} FPS", flush=True)
        load.append(os.getloadavg()[0])
    rows = []
    for (steps, la), rounds in times.items():
        flat = np.concatenate(rounds)
        rows.append(
            {
                "steps": steps,
                "lookahead": la,
                "fps_median_of_rounds": round(float(np.median([len(w) / sum(w) for w in rounds])), 1),
                "fps_p50": round(float(1 / np.percentile(flat, 50)), 1),
                "fps_p99": round(float(1 / np.percentile(flat, 99)), 1),
                "accepted": round(float(np.mean(accepted[(steps, la)])), 2),
                "frames": int(flat.size),
            }
        )
    report = {
        "world": session.sim.name,
        "backend": session.sim.backend.name,
        "device": str(session.sim.world.device),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_during": [round(x, 1) for x in load],
        "rows": rows,
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print("| steps | speculation | FPS (median of rounds) | FPS p50 | FPS p99 | accepted |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        spec_txt = f"lookahead {r['lookahead']}" if r["lookahead"] else "off"
        acc = f"{100 * r['accepted']:.0f}%" if r["lookahead"] else ""
        print(f"| {r['steps']} | {spec_txt} | {r['fps_median_of_rounds']} | {r['fps_p50']} | {r['fps_p99']} | {acc} |")
    print(f"load average during the run: {report['load_average_during']}; wrote {args.out}")
    session.close()


if __name__ == "__main__":
    main()
