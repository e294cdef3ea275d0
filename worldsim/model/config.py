"""Shape of the dynamics transformer, and its named sizes."""

from __future__ import annotations

from dataclasses import dataclass

from worldsim.errors import unknown_name


@dataclass(frozen=True)
class DynamicsConfig:
    """Shape of the dynamics transformer.

    Attributes:
        latent_channels: Channels of the codec latent.
        latent_height: Latent grid height.
        latent_width: Latent grid width.
        patch_size: Latent pixels per token side (1 = one token per latent pixel).
        dim: Transformer width.
        depth: Number of blocks.
        heads: Attention heads.
        mlp_ratio: MLP hidden size over ``dim``.
        context_frames: Frames the model attends over (training window and inference cache size).
        num_actions: Size of the world's action set; id ``num_actions`` is the null (dropped) action.
        qk_norm: RMS-normalise queries and keys (stabilises training, cheap).
        shortcut: Condition on the step size ``d`` too (shortcut model: one network for 1, 2, 4... steps).
        reward_bins: 0: the reward head regresses one number (mean squared error). N (odd, >= 3): it predicts a
            distribution over N values spaced evenly in symlog between ``-reward_limit`` and ``reward_limit``
            (two-hot targets, cross-entropy; DreamerV3's reward head) and reports its mean. A sparse event (a
            brick, a kill, a tile) then moves probability mass instead of being averaged into a small constant.
        reward_limit: Largest reward magnitude the distribution can express (the training data's largest).
    """

    latent_channels: int = 8
    latent_height: int = 8
    latent_width: int = 8
    patch_size: int = 1
    dim: int = 256
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 4.0
    context_frames: int = 16
    num_actions: int = 7
    qk_norm: bool = True
    shortcut: bool = False
    reward_bins: int = 0
    reward_limit: float = 1.0

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be divisible by heads {self.heads}")
        if self.latent_height % self.patch_size or self.latent_width % self.patch_size:
            raise ValueError(
                f"latent {self.latent_height}x{self.latent_width} not divisible by patch {self.patch_size}"
            )
        if self.context_frames < 2:
            raise ValueError("context_frames must be >= 2")
        if self.num_actions < 1:
            raise ValueError("num_actions must be >= 1")
        if self.reward_bins and (self.reward_bins < 3 or self.reward_bins % 2 == 0):
            raise ValueError(f"reward_bins must be 0 or odd and >= 3 (so 0 is one of them), got {self.reward_bins}")
        if not self.reward_limit > 0:
            raise ValueError(f"reward_limit must be > 0, got {self.reward_limit}")

    @property
    def grid(self) -> tuple[int, int]:
        """Token grid ``(rows, cols)`` of one frame."""
        return self.latent_height // self.patch_size, self.latent_width // self.patch_size

    @property
    def tokens_per_frame(self) -> int:
        """Tokens of one frame."""
        return self.grid[0] * self.grid[1]

    @property
    def context_len(self) -> int:
        """Real frames a generation step reads as context (the window holds them plus the frame being made)."""
        return self.context_frames - 1

    @property
    def max_lookahead(self) -> int:
        """Most speculative frames that fit in the window beside the frame being made and its context."""
        return self.context_frames - 2

    @property
    def null_action(self) -> int:
        """Id used for "no action given" (action dropout, first frame of an episode)."""
        return self.num_actions


#: Named sizes. Shape fields not given here (latent size, actions) come from the codec and the dataset.
PRESETS: dict[str, dict] = {
    "tiny": dict(dim=64, depth=2, heads=2, context_frames=6),
    # Real time on a laptop CPU: 2x2 latent patches (16 tokens per 64x64 frame), short context.
    "cpu": dict(dim=192, depth=4, heads=3, patch_size=2, context_frames=8),
    "small": dict(dim=192, depth=6, heads=3, context_frames=12),
    "base": dict(dim=384, depth=12, heads=6, context_frames=16),
    "large": dict(dim=768, depth=16, heads=12, context_frames=32),
    # The paper's scale: ~300M params, 336 tokens per frame (384x224 at /16), 32-frame context.
    "nfd-310m": dict(
        dim=1024, depth=16, heads=16, context_frames=32, latent_channels=16, latent_height=14, latent_width=24
    ),
}


def preset(name: str, **overrides) -> DynamicsConfig:
    """A named size, with ``overrides`` (e.g. ``num_actions``, latent shape) applied."""
    if name not in PRESETS:
        raise unknown_name("model size", name, PRESETS)
    return DynamicsConfig(**{**PRESETS[name], **overrides})
