"""``worldsim train-codec``: train the frame autoencoder whose latents the dynamics model learns on."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from worldsim.config import apply_overrides, from_dict, read_config_file
from worldsim.training.codec import CodecTrainConfig, train_codec

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``train-codec`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "train-codec",
        help="train the frame codec (autoencoder) on a dataset",
        description=(
            "Train the frame codec: a convolutional autoencoder that turns each frame into a small grid of\n"
            "continuous latents (8x8x8 for 64x64 frames) and back. The dynamics model is trained on these\n"
            "latents, and the decoder runs on every displayed frame. Writes RUN_DIR/codec.safetensors (with\n"
            "latent statistics fitted on training frames), codec_eval.json (validation PSNR, decode speed)\n"
            "and codec_metrics.csv. Re-running the same command resumes from RUN_DIR/codec_state.safetensors."
        ),
        epilog=(
            "examples:\n"
            "  worldsim train-codec data/carracing --out runs/codec-carracing\n"
            "  worldsim train-codec data/carracing --out runs/codec-small --steps 2000 --batch-size 32 --threads 1\n"
            "  worldsim train-codec data/doom codec.latent_channels=16 codec.channels=48,96,192 --out runs/codec-doom\n"
            "  worldsim train-codec --config codec.yaml lr=5e-4\n"
            "KEY=VALUE overrides go right after DATA (or after all options)."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("data", nargs="?", help="dataset directory (see `worldsim collect`)")
    p.add_argument("--out", help="run directory (default runs/codec-DATASET)")
    p.add_argument("--steps", type=int, help="total training steps (default 20000)")
    p.add_argument("--batch-size", type=int, dest="batch_size", help="frames per step (default 64)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice; 1 on a busy machine)")
    p.add_argument("--config", help="YAML/TOML file with CodecTrainConfig fields (codec: {...} for the model)")
    p.add_argument(
        "overrides", nargs="*", default=[], metavar="KEY=VALUE", help="CodecTrainConfig overrides, e.g. lr=5e-4"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run, optional_positional="data")


def config_from_args(args: argparse.Namespace) -> CodecTrainConfig:
    """Merge defaults, ``--config`` file, flags and ``key=value`` overrides (later wins)."""
    data = read_config_file(args.config) if args.config else {}
    overrides = list(args.overrides)
    if args.data:
        data["data"] = args.data
    for key in ("out", "steps", "batch_size", "device", "threads"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    data = apply_overrides(data, overrides)
    data.setdefault("out", f"runs/codec-{Path(str(data.get('data', 'data/carracing'))).name}")
    return from_dict(CodecTrainConfig, data, where=args.config or "train-codec options")


def run(args: argparse.Namespace) -> int:
    """Train, then print the validation PSNR and where the codec went."""
    cfg = config_from_args(args)
    result = train_codec(cfg, progress=not args.no_progress)
    log.info(
        "val PSNR %.2f dB, moving recall %s after %d steps; decode %.2f ms/frame (CPU, batch 1, threads=%d)",
        result["val_psnr"],
        "-" if result["val_moving_recall"] is None else f"{result['val_moving_recall']:.3f}",
        result["step"],
        result["decode_ms"],
        result["timing"]["threads"],
    )
    log.info("codec: %s  (evaluation: %s)", result["codec"], result["eval"])
    return 0
