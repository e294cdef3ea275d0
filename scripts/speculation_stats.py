"""Speculative-rollout acceptance rates on recorded action streams (no model needed).

The sampler accepts a buffered frame exactly when the next action equals the held one, so for an action
stream the acceptance rate with lookahead n follows from its runs of equal actions: a run of length L costs
ceil(L / (n + 1)) generations and serves the rest from the buffer.

    python scripts/speculation_stats.py data/carracing --lookahead 1,2,4
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from worldsim.data import Dataset


def run_lengths(actions: np.ndarray) -> np.ndarray:
    """Lengths of runs of equal consecutive actions."""
    if len(actions) == 0:
        return np.zeros(0, dtype=int)
    change = np.flatnonzero(np.diff(actions) != 0) + 1
    edges = np.concatenate([[0], change, [len(actions)]])
    return np.diff(edges)


def acceptance(runs: np.ndarray, lookahead: int) -> float:
    """Fraction of frames served from the speculative buffer."""
    generated = np.ceil(runs / (lookahead + 1)).sum()
    return float(1 - generated / runs.sum()) if runs.sum() else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="+", help="dataset directories")
    p.add_argument("--lookahead", default="1,2,4", help="comma-separated lookahead values")
    args = p.parse_args()
    ns = [int(x) for x in args.lookahead.split(",")]
    report = {}
    for root in args.datasets:
        ds = Dataset(root)
        by_policy: dict[str, list[np.ndarray]] = {}
        for ep in ds:
            by_policy.setdefault(ep.policy or "?", []).append(run_lengths(np.asarray(ep.actions)))
        for policy, runs in sorted(by_policy.items()):
            r = np.concatenate(runs)
            row = {"p_same": round(float(1 - len(r) / r.sum()), 3), "mean_hold": round(float(r.mean()), 2)}
            row.update({f"accept_n{n}": round(acceptance(r, n), 3) for n in ns})
            report[f"{ds.world}/{policy}"] = row
            print(f"{ds.world:<10} {policy:<9} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
