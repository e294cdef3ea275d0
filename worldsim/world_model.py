"""A trained world: frame codec + dynamics transformer + action schema, in one self-describing file.

``world.safetensors`` holds ``codec.*`` and ``dynamics.*`` tensors and, in its metadata, both configs,
the action schema, the frame rate and the sampling recipe, so ``WorldModel.load(path)`` needs nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsim.actions import ActionSchema
from worldsim.checkpoint import load_checkpoint, load_module, module_tensors, save_checkpoint
from worldsim.codec.autoencoder import CodecConfig, FrameCodec, history_channels, to_model, to_uint8
from worldsim.config import from_dict, to_dict
from worldsim.errors import CheckpointError, ConfigError
from worldsim.model.dynamics import DynamicsConfig, DynamicsTransformer
from worldsim.sampling.config import SamplingConfig, sampling_from_file


class WorldModel(torch.nn.Module):
    """Codec and dynamics of one world, with helpers between uint8 frames and latents."""

    def __init__(
        self,
        codec: FrameCodec,
        dynamics: DynamicsTransformer,
        schema: ActionSchema,
        sampling: SamplingConfig | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.codec = codec
        self.dynamics = dynamics
        self.schema = schema
        self.sampling = sampling or SamplingConfig()
        self.metadata = dict(metadata or {})
        if len(schema) != dynamics.cfg.num_actions:
            raise CheckpointError(
                f"action schema has {len(schema)} actions but the dynamics model expects {dynamics.cfg.num_actions}"
            )

    @property
    def resolution(self) -> tuple[int, int]:
        """``(height, width)`` of generated frames."""
        return self.codec.config.height, self.codec.config.width

    @property
    def fps(self) -> float:
        """Frames per second of the source world (play and video pacing)."""
        return float(self.metadata.get("fps", 30.0))

    @property
    def device(self) -> torch.device:
        """Device of the weights."""
        return next(self.dynamics.parameters()).device

    @torch.no_grad()
    def encode(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 frames ``(..., H, W, 3)`` -> normalised latents ``(..., C, h, w)``."""
        x = to_model(frames).to(self.device)
        lead = x.shape[:-3]
        z = self.codec.encode(x.reshape(-1, *x.shape[-3:]))
        return z.reshape(*lead, *z.shape[1:])

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, prev: np.ndarray | torch.Tensor | None = None) -> torch.Tensor:
        """Latents ``(..., C, h, w)`` -> uint8 frames ``(..., H, W, 3)`` (on the model's device).

        ``prev`` (uint8 ``(..., H, W, 3)``, same leading shape) is the frame shown before each one; a codec with
        a refiner uses it to restore detail the latent cannot hold (pass it whenever it is known). A refiner that
        sees ``k > 1`` frames takes ``(..., k, H, W, 3)``, oldest first.
        """
        lead = latents.shape[:-3]
        p = None
        if prev is not None and self.codec.has_refiner:
            p = history_channels(to_model(prev).to(self.device), self.codec.config.refiner_history)
        x = self.codec.decode(latents.reshape(-1, *latents.shape[-3:]), p)
        return to_uint8(x).reshape(*lead, *x.shape[-2:], 3)

    def save(self, path: str | Path, **metadata: Any) -> None:
        """Write ``world.safetensors`` (atomic) with everything needed to load it."""
        tensors = {**module_tensors(self.codec, "codec."), **module_tensors(self.dynamics, "dynamics.")}
        save_checkpoint(
            path,
            tensors,
            kind="world",
            codec_config=to_dict(self.codec.config),
            dynamics_config=to_dict(self.dynamics.cfg),
            action_schema=self.schema.to_dict(),
            sampling=to_dict(self.sampling),
            **{**self.metadata, **metadata},
        )

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> WorldModel:
        """Load a world file; errors name the file and what is wrong."""
        tensors, meta = load_checkpoint(path, kind="world")
        try:
            codec_cfg = from_dict(CodecConfig, meta["codec_config"], where=f"{path} codec_config")
            dyn_cfg = from_dict(DynamicsConfig, meta["dynamics_config"], where=f"{path} dynamics_config")
            schema = ActionSchema.from_dict(meta["action_schema"])
            sampling, beside = sampling_from_file(meta.get("sampling", {}), where=f"{path} sampling")
        except (KeyError, ValueError, TypeError, AttributeError, ConfigError) as e:
            raise CheckpointError(
                f"{path}: damaged or incomplete metadata ({e}); use another copy or retrain"
            ) from None
        bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad:
            raise CheckpointError(
                f"{path}: {len(bad)} tensor(s) hold NaN or infinite values ({', '.join(bad[:3])}); the file is "
                "damaged or its training diverged: use another copy or retrain"
            )
        codec, dynamics = FrameCodec(codec_cfg), DynamicsTransformer(dyn_cfg)
        load_module(codec, tensors, "codec.", path)
        load_module(dynamics, tensors, "dynamics.", path)
        known = ("format", "kind", "codec_config", "dynamics_config", "action_schema", "sampling")
        extra = {**beside, **{k: v for k, v in meta.items() if k not in known}}
        return cls(codec, dynamics, schema, sampling, extra).to(device).eval()
