"""Train the Doom monster/projectile detector that ``worldsim eval doom`` reads frames with.

    worldsim collect doom --frames 30000 --seed 0 --out data/doom-labels
    worldsim collect doom --frames 8000 --seed 9701 --out data/doom-labels9701 val_fraction=0.99
    python scripts/train_doom_detector.py data/doom-labels --eval-data data/doom-labels9701

Both datasets must carry VizDoom's labels (every ``worldsim collect doom`` records them). The detector trains on
the first dataset's training episodes, its threshold is chosen on that dataset's validation episodes, and it is
scored on the second dataset. It is written to ``assets/doom/detector.safetensors`` (``--out``) with its scores in
its metadata and in ``detector.json`` beside it: precision and recall of "a monster is on screen" against the
labels.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from worldsim.data.dataset import Dataset
from worldsim.errors import DatasetError
from worldsim.io import atomic_write_json
from worldsim.probes import doom

log = logging.getLogger("train_doom_detector")


def labelled_frames(path: str, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The frames of a dataset (one split, or all) and their label rows; a dataset without labels is refused."""
    ds = Dataset(path)
    if ds.world != "doom":
        raise DatasetError(f"{path}: records {ds.world!r}, not doom; collect with `worldsim collect doom`")
    frames, labels = [], []
    for i in ds.split(split) if split else range(len(ds.episodes)):  # type: ignore[arg-type]
        ep = ds.episode(i)
        if ep.labels is None:
            raise DatasetError(f"{path}: recorded without VizDoom labels; collect it again (labels are on by default)")
        frames.append(np.asarray(ep.frames))
        labels.append(np.asarray(ep.labels))
    if not frames:
        raise DatasetError(f"{path}: no {split} episodes")
    return np.concatenate(frames), np.concatenate(labels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="Doom dataset with labels (training)")
    parser.add_argument("--eval-data", required=True, help="Doom dataset with labels from unseen seeds (scores)")
    parser.add_argument("--out", default=None, help="detector file (default: assets/doom/detector.safetensors)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out) if args.out else doom.shipped_detector_path()
    try:
        frames, labels = labelled_frames(args.data, "train")
        val_frames, val_labels = labelled_frames(args.data, "val")
        eval_frames, eval_labels = labelled_frames(args.eval_data)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    log.info("training on %d frames of %s, scoring on %d of %s", len(frames), args.data, len(eval_frames),
             args.eval_data)  # fmt: skip
    det = doom.train_detector(frames, labels, steps=args.steps, seed=args.seed, progress=not args.no_progress)
    threshold = det.threshold = doom.choose_threshold(doom.predict(det, val_frames), doom.targets(val_labels))
    scores = doom.score(doom.predict(det, eval_frames), doom.targets(eval_labels), threshold)
    report = {
        "train_data": args.data, "train_frames": len(frames), "threshold": threshold,
        "threshold_frames": len(val_frames), "eval_data": args.eval_data,
        "eval_frames": len(eval_frames), "steps": args.steps, "seed": args.seed,
        "torch_threads": torch.get_num_threads(), **dataclasses.asdict(scores),
    }  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    doom.save_detector(det, out, **report)
    atomic_write_json(out.with_suffix(".json"), report)
    log.info(
        "threshold %.2f (best F1 on the training data's validation episodes); monster on screen: "
        "precision %.3f, recall %.3f (in %.1f%% of frames); projectile: precision %.3f, recall %.3f (%.1f%%); "
        "found monster's cell within one of a labelled one: %.3f\nwrote %s",
        threshold, scores.monster_precision, scores.monster_recall, 100 * scores.monster_rate,
        scores.projectile_precision, scores.projectile_recall, 100 * scores.projectile_rate, scores.cell_hit, out,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
