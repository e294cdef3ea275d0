"""Env steps per second of ``WorldSim-v0`` for N = 1, 16, 256 streams (one batched model call per step).

For each N: load the vector env, warm up (compilation/export/allocation, not timed), reset, then time
``--iters`` batched steps with uniformly random actions. Reports env steps/s (N per batched step), ms per
batched step split into model and decode time, and the wall hours per million env steps; writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

EPILOG = """examples:
  python scripts/bench_env.py                                   # carracing, N=1,16,256, CPU or GPU
  python scripts/bench_env.py --num-envs 1,16 --iters 50 --backend onnx --out runs/bench-env.json
  python scripts/bench_env.py --world runs/toy/world.safetensors --device cpu --threads 2"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--world", default="carracing", help="shipped world name or checkpoint path")
    p.add_argument("--num-envs", default="1,16,256", help="comma-separated stream counts")
    p.add_argument("--iters", type=int, default=30, help="timed batched steps per N")
    p.add_argument("--min-seconds", type=float, default=0.0, help="keep stepping until this much time has passed")
    p.add_argument("--steps", type=int, help="denoising steps (default: the world's)")
    p.add_argument("--speculative", type=int, default=0, help="frames speculated ahead")
    p.add_argument("--backend", default="eager", help="eager, compile, onnx, tensorrt or auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="generation threads (0: the CPU policy's, 1 by default)")
    p.add_argument("--precision", default="auto", help="auto (bf16 from 8 streams on bf16 CPUs), fp32 or bf16")
    p.add_argument("--out", help="write the results here as JSON")
    return p.parse_args(argv)


def bench_one(args: argparse.Namespace, n: int) -> dict:
    """Time ``args.iters`` batched steps of ``n`` streams."""
    import gymnasium as gym

    import worldsim  # noqa: F401 - registers WorldSim-v0

    t0 = time.perf_counter()
    envs = gym.make_vec(
        "WorldSim-v0",
        num_envs=n,
        world=args.world,
        device=args.device,
        sampling={"steps": args.steps} if args.steps else None,
        speculative=args.speculative,
        backend=args.backend,
        threads=args.threads or None,
        precision=args.precision,
    )
    load_s = time.perf_counter() - t0
    warm_s = envs.sim.warmup()
    rng = np.random.default_rng(0)
    envs.reset(seed=0)
    model_ms, decode_ms, iters = [], [], 0
    t0 = time.perf_counter()
    while iters < args.iters or time.perf_counter() - t0 < args.min_seconds:
        _, _, _, _, info = envs.step(rng.integers(envs.single_action_space.n, size=n))
        model_ms.append(float(info["model_ms"][0]))
        decode_ms.append(float(info["decode_ms"][0]))
        iters += 1
    seconds = time.perf_counter() - t0
    bf16 = envs.sim.bf16
    envs.close()
    sps = n * iters / seconds
    return {
        "num_envs": n,
        "iters": iters,
        "env_steps_per_s": sps,
        "ms_per_batched_step": 1000 * seconds / iters,
        "model_ms": float(np.mean(model_ms)),
        "decode_ms": float(np.mean(decode_ms)),
        "hours_per_million_env_steps": 1e6 / sps / 3600,
        "load_s": load_s,
        "warmup_s": warm_s,
        "precision": "bf16" if bf16 else "fp32",
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    import torch

    from worldsim.errors import Error
    from worldsim.runtime import cpu_info

    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    rows = []
    try:
        for n in (int(x) for x in args.num_envs.split(",")):
            row = bench_one(args, n)
            rows.append(row)
            print(
                f"N={n:4d}  {row['env_steps_per_s']:9.1f} env steps/s  {row['ms_per_batched_step']:8.1f} ms/step "
                f"(model {row['model_ms']:.1f}, decode {row['decode_ms']:.1f})  "
                f"{row['hours_per_million_env_steps']:.2f} h per 1M steps",
                flush=True,
            )
    except Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = {
        "world": args.world,
        "backend": args.backend,
        "device": device,
        "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None,
        "cpu": cpu_info()["model"] or platform.processor() or platform.machine(),
        "amx_bf16": cpu_info()["amx_bf16"],
        "avx512_bf16": cpu_info()["avx512_bf16"],
        "precision": args.precision,
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "denoising_steps": args.steps,
        "speculative": args.speculative,
        "rows": rows,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        from worldsim.io import atomic_write_json

        atomic_write_json(args.out, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
