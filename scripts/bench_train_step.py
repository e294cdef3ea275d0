"""Training step speed on the CPU, fp32 against bf16 autocast.

One shortcut step (forward, backward, AdamW) of a shipped world's dynamics model at batch 32, in interleaved rounds
so both precisions see the same load.

    OMP_NUM_THREADS=1 python scripts/bench_train_step.py --world carracing --rounds 3

Training uses bf16 autocast on CPUs with AMX-BF16 or AVX512-BF16 (``worldsim.training.train.train_bf16``); this is
the measurement behind that choice (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", default="carracing")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)

    from worldsim.assets import resolve_world
    from worldsim.runtime import cpu_info
    from worldsim.training.objective import ObjectiveConfig, shortcut_loss
    from worldsim.world_model import WorldModel

    warnings.filterwarnings("ignore", message="Mismatch dtype between input and weight")
    model = WorldModel.load(resolve_world(args.world).world).dynamics
    model.train()
    ema = copy.deepcopy(model)
    c = model.cfg
    b, f = args.batch, c.context_len
    x0 = torch.randn(b, f, c.latent_channels, c.latent_height, c.latent_width)
    actions = torch.randint(0, c.num_actions, (b, f))
    rewards, term, has = torch.zeros(b, f), torch.zeros(b, f, dtype=torch.bool), torch.ones(b, f)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
    cfg = ObjectiveConfig(bootstrap_every=4)

    def step(bf16: bool) -> float:
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = shortcut_loss(model, ema, x0, actions, rewards, term, has, cfg, torch.Generator().manual_seed(0))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        return time.perf_counter() - t0

    for bf16 in (False, True):  # warm-up
        step(bf16)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(args.rounds):
        for bf16 in (False, True):
            times["bf16" if bf16 else "fp32"].append(round((step(bf16) + step(bf16)) / 2, 3))
    report = {
        "world": args.world, "batch": b, "threads": torch.get_num_threads(), "cpu": cpu_info(),
        "seconds_per_step": times, "speedup": round(min(times["fp32"]) / min(times["bf16"]), 2),
    }  # fmt: skip
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
