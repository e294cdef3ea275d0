"""Convert a stable-baselines3 agent zip (PPO or A2C) into a WorldSim agent file, once, on purpose.

A stable-baselines3 zip is unpickled to load, which runs code from the file; WorldSim's agent files
(``agent.safetensors``: weights plus a JSON description) never are. This converts a zip you trust so that
``worldsim play --policy`` and ``scripts/train_agent.py`` can use it without ``--trust-pickle`` afterwards.

    python scripts/convert_agent.py runs/old/agent.zip --trust-pickle            # writes runs/old/agent.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("zip", help="stable-baselines3 agent zip")
    p.add_argument("--out", help="agent file to write (default: beside the zip, .safetensors)")
    p.add_argument("--trust-pickle", action="store_true", help="you trust the zip: unpickling it can run its code")
    args = p.parse_args(argv)
    from worldsim.errors import Error
    from worldsim.rl.agent_file import convert_sb3_zip

    out = Path(args.out) if args.out else Path(args.zip).with_suffix(".safetensors")
    try:
        convert_sb3_zip(args.zip, out, trust=args.trust_pickle)
    except Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
