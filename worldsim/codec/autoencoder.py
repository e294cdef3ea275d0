"""The frame codec: a convolutional autoencoder between RGB frames and continuous latent grids.

The dynamics model never sees pixels: it denoises latents ``z`` of shape ``(C, H / ds, W / ds)``. The encoder
may be heavy (it runs once per context frame); the decoder runs on every displayed frame, so it is kept light
(few channels at high resolution) to stay within a couple of milliseconds per 64x64 frame on a laptop CPU.

Latents are continuous (no vector quantisation). Training adds a small L2 penalty on the raw latents (see
:mod:`worldsim.training.codec`) so their scale cannot drift; after training, per-channel mean and standard
deviation are fitted on data (:meth:`FrameCodec.fit_latent_stats`) and :meth:`FrameCodec.encode` returns
normalised latents of roughly zero mean and unit variance per channel, the scale a diffusion model expects.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from worldsim.checkpoint import load_checkpoint, load_module, module_tensors, save_checkpoint
from worldsim.config import from_dict, to_dict
from worldsim.errors import CheckpointError, ConfigError

CODEC_KIND = "codec"


@dataclass(frozen=True)
class CodecConfig:
    """Architecture of a :class:`FrameCodec`.

    Resolution stages are numbered from the frame down: stage ``i`` is ``2**i`` times smaller than the frame,
    and the latent grid is stage ``n = log2(downsample)``. The encoder works at stages ``0 .. n - 1`` and ends
    with a strided convolution into stage ``n``; the decoder works at stages ``n .. 1`` and produces the frame
    with a sub-pixel convolution from stage 1, so no feature map ever has the full frame resolution (that is
    what keeps decoding fast).

    Attributes:
        height: Frame height in pixels (a multiple of ``downsample``).
        width: Frame width in pixels (a multiple of ``downsample``).
        latent_channels: Channels ``C`` of the latent grid.
        downsample: Spatial reduction factor (a power of two >= 2); latents are ``height / downsample`` tall.
        channels: Encoder channels at stages ``0 .. n - 1`` (the latent stage reuses the last entry).
        encoder_blocks: Residual blocks per encoder stage ``0 .. n - 1``.
        mid_blocks: Residual blocks at the latent resolution in the encoder.
        decoder_channels: Decoder channels at stages ``1 .. n`` (the last entry is the latent resolution).
            The first entries cost the most per channel: they run at the highest resolution.
        decoder_blocks: Residual blocks per decoder stage ``1 .. n``.
        norm_groups: GroupNorm groups (capped by the channel count: ``gcd(channels, norm_groups)``).
        refiner_channels: Width of the :class:`Refiner` at half resolution (twice that at quarter resolution);
            0 means no refiner: frames are decoded from their latent alone.
        refiner_blocks: Residual blocks of the refiner at each of its two resolutions.
        refiner_gate: The refiner also predicts a per-pixel gate between its output and the previous frame, so
            pixels that did not change can be copied exactly (a static frame then decodes bit for bit).
        refiner_history: Frames shown before the current one that the refiner sees (1: the previous frame only).
            Two are enough to know where a small fast object (Breakout's ball) is heading when the latent does
            not carry it.
    """

    height: int = 64
    width: int = 64
    latent_channels: int = 8
    downsample: int = 8
    channels: tuple[int, ...] = (32, 64, 128)
    encoder_blocks: tuple[int, ...] = (0, 1, 1)
    mid_blocks: int = 1
    decoder_channels: tuple[int, ...] = (24, 48, 96)
    decoder_blocks: tuple[int, ...] = (0, 1, 1)
    norm_groups: int = 8
    refiner_channels: int = 0
    refiner_blocks: int = 2
    refiner_gate: bool = False
    refiner_history: int = 1

    def __post_init__(self) -> None:
        ds = self.downsample
        if ds < 2 or ds & (ds - 1):
            raise ValueError(f"downsample must be a power of two >= 2 (2, 4, 8, 16), got {ds}")
        for name in ("height", "width"):
            size = getattr(self, name)
            if size < ds or size % ds:
                raise ValueError(f"{name} must be a positive multiple of downsample={ds}, got {size}")
        stages = self.num_stages
        for name in ("channels", "encoder_blocks", "decoder_channels", "decoder_blocks"):
            value = getattr(self, name)
            if len(value) != stages:
                raise ValueError(
                    f"{name} needs one entry per halving: {stages} for downsample={ds}, got {len(value)} {value}"
                )
        if min(self.channels) < 1 or min(self.decoder_channels) < 1:
            raise ValueError(f"channels must be >= 1, got {self.channels} and {self.decoder_channels}")
        if min(self.encoder_blocks) < 0 or min(self.decoder_blocks) < 0 or self.mid_blocks < 0:
            raise ValueError("block counts must be >= 0")
        if self.latent_channels < 1:
            raise ValueError(f"latent_channels must be >= 1, got {self.latent_channels}")
        if self.norm_groups < 1:
            raise ValueError(f"norm_groups must be >= 1, got {self.norm_groups}")
        if self.refiner_channels < 0 or self.refiner_blocks < 0:
            raise ValueError("refiner_channels and refiner_blocks must be >= 0")
        if self.refiner_history < 1:
            raise ValueError(f"refiner_history must be >= 1, got {self.refiner_history}")

    @property
    def num_stages(self) -> int:
        """Number of halvings between frame and latent grid, ``log2(downsample)``."""
        return self.downsample.bit_length() - 1

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """``(C, h, w)`` of one frame's latent grid."""
        return self.latent_channels, self.height // self.downsample, self.width // self.downsample


def to_model(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 frames ``[..., H, W, 3]`` (numpy or torch) -> float32 tensor ``[..., 3, H, W]`` in ``[-1, 1]``.

    >>> to_model(np.full((2, 4, 4, 3), 255, np.uint8)).shape
    torch.Size([2, 3, 4, 4])
    """
    if isinstance(frames, np.ndarray):
        # Read-only arrays (memory-mapped shards) are copied: torch cannot wrap them without a warning.
        frames = torch.from_numpy(frames if frames.flags.writeable else np.array(frames))
    x = frames.to(torch.float32) / 127.5 - 1.0
    return x.movedim(-1, -3).contiguous()  # (..., 3, H, W)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_model`: ``[..., 3, H, W]`` in ``[-1, 1]`` -> uint8 ``[..., H, W, 3]`` (clamped, rounded).

    >>> frames = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, -1)
    >>> bool((to_uint8(to_model(frames)).numpy() == frames).all())
    True
    """
    x = ((x.detach().float() + 1.0) * 127.5).round_().clamp_(0, 255)
    return x.to(torch.uint8).movedim(-3, -1).contiguous()  # (..., H, W, 3)


def history_channels(frames: torch.Tensor, history: int) -> torch.Tensor:
    """A refiner's ``prev`` from earlier frames, ``(N, 3 * history, H, W)`` with the most recent first.

    ``frames`` are ``(..., 3, H, W)`` for ``history`` 1, else ``(..., history, 3, H, W)`` oldest first.
    """
    if history == 1:
        return frames.reshape(-1, *frames.shape[-3:])
    if frames.ndim < 4 or frames.shape[-4] != history:
        raise ValueError(f"the refiner sees {history} previous frames: expected (..., {history}, 3, H, W), "
                         f"got {tuple(frames.shape)}")  # fmt: skip
    return frames.flip(-4).reshape(-1, 3 * history, *frames.shape[-2:])


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, groups), channels)


class ResBlock(nn.Module):
    """Pre-activation residual block: (GroupNorm, SiLU, conv3x3) twice, plus a 1x1 skip if channels change."""

    def __init__(self, c_in: int, c_out: int, groups: int) -> None:
        super().__init__()
        self.norm1 = _norm(c_in, groups)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = _norm(c_out, groups)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, c_in, h, w) -> (B, c_out, h, w)."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Upsample(nn.Module):
    """Sub-pixel x2 upsampling: conv3x3 to ``4 * c_out`` channels at the low resolution, then PixelShuffle.

    As expressive as nearest-neighbour upsampling followed by a conv3x3 at the high resolution, but about
    twice as fast on CPU at batch 1 (no interpolation copy, and the convolution runs on the small grid).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, 4 * c_out, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, c_in, h, w) -> (B, c_out, 2h, 2w)."""
        return self.shuffle(self.conv(x))


class Encoder(nn.Module):
    """Frames ``(B, 3, H, W)`` in ``[-1, 1]`` -> raw latents ``(B, C, H / ds, W / ds)``."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        ch, g = cfg.channels, cfg.norm_groups
        layers: list[nn.Module] = [nn.Conv2d(3, ch[0], 3, padding=1)]
        for i, c in enumerate(ch):
            layers += [ResBlock(c, c, g) for _ in range(cfg.encoder_blocks[i])]
            c_next = ch[min(i + 1, len(ch) - 1)]
            layers.append(nn.Conv2d(c, c_next, 3, stride=2, padding=1))  # stage i -> i + 1
        layers += [ResBlock(ch[-1], ch[-1], g) for _ in range(cfg.mid_blocks)]
        layers += [_norm(ch[-1], g), nn.SiLU(), nn.Conv2d(ch[-1], cfg.latent_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """See the class docstring."""
        return self.net(x)


class Decoder(nn.Module):
    """Raw latents ``(B, C, h, w)`` -> frames ``(B, 3, h * ds, w * ds)`` (unbounded; clamp for display)."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        ch, g = cfg.decoder_channels, cfg.norm_groups  # ch[i] is the width at stage i + 1
        layers: list[nn.Module] = [nn.Conv2d(cfg.latent_channels, ch[-1], 3, padding=1)]
        for i in reversed(range(len(ch))):
            if i < len(ch) - 1:
                layers.append(Upsample(ch[i + 1], ch[i]))  # stage i + 2 -> i + 1
            layers += [ResBlock(ch[i], ch[i], g) for _ in range(cfg.decoder_blocks[i])]
        # Stage 1 -> frame: 4 pixels per position, so nothing is ever computed at full resolution.
        layers += [_norm(ch[0], g), nn.SiLU(), nn.Conv2d(ch[0], 3 * 4, 3, padding=1), nn.PixelShuffle(2)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """See the class docstring."""
        return self.net(z)


class Refiner(nn.Module):
    """Sharpens a decoded frame with the frame before it: ``x = x0 + delta(x0, prev)``.

    A latent grid 8x smaller than the frame cannot hold every pixel, but most pixels of a frame are where they
    were one frame earlier, and the previous frame is always at hand (a real context frame, or the one just
    shown). The refiner sees the plain decoding ``x0``, the previous frame and their difference, and predicts a
    correction at half resolution (pixel-unshuffled, like the decoder's last layer) with one quarter-resolution
    level for motion wider than a few pixels. Its last convolution starts at zero, so an untrained refiner
    returns ``x0`` unchanged: adding one never makes a codec worse before training.

    With ``refiner_gate`` the output is ``prev + g * (x0 + delta - prev)`` with a per-pixel gate ``g`` in
    (0, 1) that starts open (``g`` = 1 - 5e-5, far below one uint8 level): where ``g`` closes, the previous
    frame's pixels come through exactly instead of being re-synthesised from the latent.

    With ``refiner_history = k > 1`` it also sees the ``k - 1`` frames shown before the previous one, so it can
    tell where something moving is heading (one frame shows where the ball is, two show where it goes).
    """

    GATE_INIT = 10.0  # initial gate logit: sigmoid(10) = 1 - 4.5e-5

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        c, g, n = cfg.refiner_channels, cfg.norm_groups, cfg.refiner_blocks
        self.history = cfg.refiner_history
        self.inp = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(3 * (2 + self.history) * 4, c, 3, padding=1))
        self.down = nn.Sequential(
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), *[ResBlock(2 * c, 2 * c, g) for _ in range(n)]
        )
        self.up = Upsample(2 * c, c)
        self.blocks = nn.Sequential(*[ResBlock(c, c, g) for _ in range(n)])
        self.gate = cfg.refiner_gate
        out = (3 + self.gate) * 4  # delta (and gate logit) for each of the 4 pixels of a half-resolution cell
        self.out = nn.Sequential(_norm(c, g), nn.SiLU(), nn.Conv2d(c, out, 3, padding=1), nn.PixelShuffle(2))
        nn.init.zeros_(self.out[2].weight)
        nn.init.zeros_(self.out[2].bias)
        if self.gate:
            with torch.no_grad():
                self.out[2].bias.view(-1, 4)[3].fill_(self.GATE_INIT)  # PixelShuffle reads channels in groups of 4

    def forward(self, x0: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """``x0`` (B, 3, H, W), ``prev`` (B, 3 * history, H, W), most recent first, in ``[-1, 1]`` -> (B, 3, H, W)."""
        if prev.shape[1] != 3 * self.history:
            raise ValueError(f"the refiner sees {self.history} previous frames (3 channels each), got {prev.shape}")
        older, prev = prev[:, 3:], prev[:, :3]
        h = self.inp(torch.cat([x0, prev, prev - x0, older], 1))
        h = h + self.up(self.down(h))
        out = self.out(self.blocks(h))
        if not self.gate:
            return x0 + out
        g = torch.sigmoid(out[:, 3:])
        return prev + g * (x0 + out[:, :3] - prev)


class FrameCodec(nn.Module):
    """Frame autoencoder with normalised continuous latents.

    ``encode``/``decode`` work on normalised latents (per-channel ``latent_mean``/``latent_std`` buffers,
    identity until :meth:`fit_latent_stats` runs); ``encode_raw``/``decode_raw`` skip the normalisation and
    are what training uses, so fitting the statistics never changes what the network learned.

    >>> codec = FrameCodec(CodecConfig(channels=(8, 8, 8), decoder_channels=(8, 8, 8)))
    >>> codec.encode(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2, 8, 8, 8])
    """

    def __init__(self, config: CodecConfig | None = None) -> None:
        super().__init__()
        self.config = config or CodecConfig()
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        self.refiner = Refiner(self.config) if self.config.refiner_channels else None
        c = self.config.latent_channels
        self.register_buffer("latent_mean", torch.zeros(c))
        self.register_buffer("latent_std", torch.ones(c))
        #: Checkpoint metadata (world, action_schema, val_psnr, ...) when loaded with :meth:`from_checkpoint`.
        self.metadata: dict[str, Any] = {}

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """``(C, h, w)`` of one frame's latent grid."""
        return self.config.latent_shape

    def encode_raw(self, x: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, 3, H, W)`` in ``[-1, 1]`` -> un-normalised latents ``(B, C, h, w)``."""
        return self.encoder(x)

    @property
    def has_refiner(self) -> bool:
        """Whether :meth:`decode` can use the previous frame (see :class:`Refiner`)."""
        return self.refiner is not None

    def decode_raw(self, z: torch.Tensor, prev: torch.Tensor | None = None) -> torch.Tensor:
        """Un-normalised latents ``(B, C, h, w)`` -> frames ``(B, 3, H, W)``, roughly in ``[-1, 1]``.

        ``prev`` (B, 3 * k, H, W) in ``[-1, 1]`` are the ``k = refiner_history`` frames before each one, most
        recent first; with a refiner it sharpens the result, without one (or when ``prev`` is None) it is ignored.
        """
        x = self.decoder(z)
        if self.refiner is not None and prev is not None:
            x = self.refiner(x, prev)
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, 3, H, W)`` in ``[-1, 1]`` -> normalised latents ``(B, C, h, w)``."""
        z = self.encoder(x)
        return (z - self.latent_mean[:, None, None]) / self.latent_std[:, None, None]

    def decode(self, z: torch.Tensor, prev: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised latents ``(B, C, h, w)`` -> frames ``(B, 3, H, W)``, roughly in ``[-1, 1]``.

        ``prev`` is the previous frame of each, as in :meth:`decode_raw`. The output is not clamped (training
        sees the raw values); :func:`to_uint8` clamps for display.
        """
        return self.decode_raw(z * self.latent_std[:, None, None] + self.latent_mean[:, None, None], prev)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct frames: ``decode(encode(x))``."""
        return self.decode_raw(self.encode_raw(x))

    @torch.no_grad()
    def fit_latent_stats(self, frames_iter: Iterable[np.ndarray | torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Fit ``latent_mean``/``latent_std`` to the raw latents of some frames; return them.

        Args:
            frames_iter: Batches of uint8 frames ``[N, H, W, 3]`` (numpy or torch), e.g. a few thousand
                random training frames in batches of a few hundred.

        Returns:
            The fitted ``(mean, std)``, each of shape ``[C]``, also stored in the buffers.
        """
        device = self.latent_mean.device
        c = self.config.latent_channels
        total = torch.zeros(c, dtype=torch.float64)
        total_sq = torch.zeros(c, dtype=torch.float64)
        count = 0
        was_training = self.training
        self.eval()
        for frames in frames_iter:
            z = self.encode_raw(to_model(frames).to(device)).double().cpu()  # (N, C, h, w)
            z = z.transpose(0, 1).reshape(c, -1)  # (C, N * h * w)
            total += z.sum(1)
            total_sq += (z * z).sum(1)
            count += z.shape[1]
        self.train(was_training)
        if count == 0:
            raise ValueError("fit_latent_stats needs at least one frame")
        mean = total / count
        std = (total_sq / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)  # never divide by ~0
        self.latent_mean.copy_(mean.float())
        self.latent_std.copy_(std.float())
        return self.latent_mean.clone(), self.latent_std.clone()

    def num_params(self) -> dict[str, int]:
        """Parameter counts of ``encoder``, ``decoder``, ``refiner`` (0 without one) and ``total``."""
        enc = sum(p.numel() for p in self.encoder.parameters())
        dec = sum(p.numel() for p in self.decoder.parameters())
        ref = sum(p.numel() for p in self.refiner.parameters()) if self.refiner is not None else 0
        return {"encoder": enc, "decoder": dec, "refiner": ref, "total": enc + dec + ref}

    def save(self, path: str | Path, **metadata: Any) -> None:
        """Atomically write a ``codec`` checkpoint: weights, latent statistics, config and ``metadata``."""
        save_checkpoint(path, module_tensors(self), kind=CODEC_KIND, config=to_dict(self.config), **metadata)

    @classmethod
    def from_checkpoint(cls, path: str | Path, map_location: str | torch.device = "cpu") -> FrameCodec:
        """Load a codec saved by :meth:`save` (strictly), in eval mode on ``map_location``.

        Raises:
            CheckpointError: The file is missing, corrupt, not a codec, or its weights do not fit its config.
        """
        tensors, meta = load_checkpoint(path, kind=CODEC_KIND)
        if not isinstance(meta.get("config"), dict):
            raise CheckpointError(f"{path}: codec checkpoint has no config in its metadata; re-save or retrain it")
        try:
            config = from_dict(CodecConfig, meta["config"], where=f"{path}: config")
        except ConfigError as e:
            raise CheckpointError(f"{e}; the file was written by an incompatible version") from None
        codec = cls(config)
        load_module(codec, tensors, path=path)
        codec.metadata = {k: v for k, v in meta.items() if k not in ("format", "kind", "config")}
        return codec.to(map_location).eval()


@torch.inference_mode()
def time_codec(
    codec: FrameCodec, batch_size: int = 1, repeats: int = 100, warmup: int = 10, max_seconds: float = 5.0
) -> dict[str, float]:
    """Wall milliseconds per frame of ``encode`` and ``decode`` at ``batch_size`` on the codec's device.

    Runs with the current ``torch.get_num_threads()``. Returns the median (``encode_ms``, ``decode_ms``) and
    the best run (``encode_ms_min``, ``decode_ms_min``); on a shared machine the minimum is the better guess
    of the unloaded speed. Times are per frame (batch time divided by ``batch_size``). Each function stops
    after ``max_seconds`` if that comes before ``repeats`` (a loaded machine can be very slow).
    """
    device = codec.latent_mean.device
    was_training = codec.training
    codec.eval()
    x = torch.zeros(batch_size, 3, codec.config.height, codec.config.width, device=device)
    z = torch.zeros(batch_size, *codec.latent_shape, device=device)
    result = {}
    # A refiner runs on every displayed frame, after the frames before it: time decoding with it.
    prev = x.repeat(1, codec.config.refiner_history, 1, 1)
    decode = (lambda z: codec.decode(z, prev)) if codec.has_refiner else codec.decode
    for name, fn, arg in (("encode", codec.encode, x), ("decode", decode, z)):
        times: list[float] = []
        deadline = time.perf_counter() + max_seconds
        for i in range(warmup + repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            fn(arg)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1000.0 / batch_size)
            if times and time.perf_counter() > deadline:
                break
        result[f"{name}_ms"] = float(np.median(times))
        result[f"{name}_ms_min"] = float(np.min(times))
    codec.train(was_training)
    return result


def psnr(reference: np.ndarray | torch.Tensor, reconstruction: np.ndarray | torch.Tensor) -> float:
    """PSNR in dB between uint8 frame arrays, from the mean squared error over all pixels and frames."""
    a = torch.as_tensor(np.asarray(reference)).double()
    b = torch.as_tensor(np.asarray(reconstruction)).double()
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
