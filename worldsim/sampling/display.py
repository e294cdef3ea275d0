"""What each stream shows: latents decoded after the frame shown before them.

Two things make a displayed frame depend on the previous one:

- a codec **refiner** (:class:`~worldsim.codec.autoencoder.Refiner`) sharpens the decoding with the previous
  frame;
- **pixel hold** (conditional replenishment, as in classic video coding): a pixel keeps its shown value until the
  decoding of the current latent moves more than a threshold away from the decoding it was last refreshed
  from. A latent grid 8x smaller than the frame re-synthesises every pixel each frame, so a scene that does not
  move still shimmers by a few grey levels (and a car standing still never shows the same frame twice);
  with hold, what the model says did not change stays exactly as it was, and what changed is redrawn. The
  reference is the decoding at the pixel's last refresh, not the previous frame's, so slow changes still
  accumulate past the threshold instead of freezing. With a refiner, which decodes from the frame shown
  before, the reference starts as the real frame itself. A world can give one region its own threshold (0 = never
  held), e.g. CarRacing's instrument strip, whose small bar movements carry the action.
- **still frames** (optional, on top of pixel hold): when only a sliver of the picture outside that region would
  be redrawn, none of it is. A model that is unsure whether a slowing car has stopped predicts a creep of a
  pixel, which redraws the edges of the road and nothing else; a stopped car should show a still picture.
  Real motion passes the bar within a frame or two, because references stay where they were last drawn and the
  change keeps adding up. The region can be held with it (``still_region``): in a frame whose picture is still,
  the region too is redrawn only if enough of it changed, so a stopped car's instruments do not flicker either.
- **background snap** (optional): a redrawn pixel whose decoding lies within a few grey levels of the first real
  frame at that pixel shows the real value. In a game drawn over a fixed background (Atari), a sprite that moves
  on uncovers exactly the background it hid; the decoder's version of it is off by a few grey levels, so the
  frame would never again equal the real one (PSNR scores an exact frame at its 100 dB cap, and the same frame
  with one pixel 8 levels off at 71 dB).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from worldsim.codec.autoencoder import history_channels, to_model, to_uint8
from worldsim.sampling.config import HoldConfig


def hold_pixels(
    decoded: torch.Tensor,
    shown: torch.Tensor,
    reference: torch.Tensor,
    thresholds: torch.Tensor,
    still: float = 0.0,
    field: torch.Tensor | None = None,
    still_region: float = 0.0,
    background: torch.Tensor | None = None,
    snap: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of pixel hold on ``(B, 3, H, W)`` frames in model units; returns ``(shown, reference)``.

    A pixel is refreshed (shows ``decoded``, and ``decoded`` becomes its reference) where any channel of
    ``decoded`` differs from ``reference`` by at least its threshold; elsewhere it keeps ``shown``. With
    ``still > 0``, pixels of ``field`` (a ``(1, 1, H, W)`` bool mask; default all) are refreshed only in frames
    where at least that fraction of them needs it; with ``still_region > 0`` too, the other pixels of such a
    still frame are refreshed only if at least that fraction of them needs it. With ``background`` (``(B, 3, H, W)``)
    and ``snap > 0`` (model units), a refreshed pixel whose decoding is within ``snap`` of it shows ``background``.
    """
    refresh = (decoded - reference).abs().amax(1, keepdim=True) >= thresholds
    if still > 0:
        field = torch.ones_like(refresh[:1]) if field is None else field
        moving = (refresh & field).sum((1, 2, 3), keepdim=True) >= still * field.sum()
        region = ~field
        if still_region > 0:
            region = region & ((refresh & region).sum((1, 2, 3), keepdim=True) >= still_region * region.sum())
        refresh = refresh & (moving | region)
    drawn = decoded
    if background is not None and snap > 0:
        drawn = torch.where((decoded - background).abs().amax(1, keepdim=True) < snap, background, decoded)
    return torch.where(refresh, drawn, shown), torch.where(refresh, decoded, reference)


class PixelHold:
    """A :class:`HoldConfig` made ready for ``H x W`` frames on one device.

    >>> # hold = PixelHold(config, 64, 64); shown, reference = hold(decoded, shown, reference)
    """

    def __init__(self, config: HoldConfig, height: int, width: int, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.thresholds = config.thresholds(height, width, device)
        self.field = config.field(height, width, device)

    def __call__(
        self,
        decoded: torch.Tensor,
        shown: torch.Tensor,
        reference: torch.Tensor,
        background: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`hold_pixels` with this configuration; returns ``(shown, reference)``.

        ``background`` is the first real frame of each stream (what ``snap`` snaps to; ignored without it).
        """
        c = self.config
        snap = c.snap * 2.0 / 255.0  # grey levels -> model units
        return hold_pixels(
            decoded, shown, reference, self.thresholds, c.still, self.field, c.still_region, background, snap
        )


class Display:
    """The frames ``B`` streams of a world show, decoded one latent at a time after the previous frame.

    >>> # display = Display(world, sampling.hold); display.start(context_frames[:, -1]); frame = display.show(latent)
    """

    def __init__(self, world, hold: HoldConfig, decode: Callable[..., torch.Tensor] | None = None) -> None:
        self.world = world
        self.hold = hold
        #: ``decode(latents, prev)``: the codec's own, or the backend's export of it (``EagerBackend.decoder``).
        self._decode = decode or world.codec.decode
        h, w = world.codec.config.height, world.codec.config.width
        self._pixel_hold = PixelHold(self.hold, h, w, world.device)
        self.frames: np.ndarray | None = None  # uint8 (B, H, W, 3), what each stream shows now
        self._reference: torch.Tensor | None = None  # (B, 3, H, W) decoding each pixel was last refreshed from
        self._background: torch.Tensor | None = None  # (B, 3, H, W) the real frame each stream started from (snap)
        # (B, 3 * (k - 1), H, W), most recent first: the frames shown before the current one, for a refiner that
        # sees k > 1 of them (None otherwise).
        self._older: torch.Tensor | None = None
        self._history = world.codec.config.refiner_history if world.codec.has_refiner else 1

    @torch.no_grad()
    def start(
        self,
        frames: np.ndarray,
        latents: torch.Tensor | None = None,
        streams: Sequence[int] | None = None,
        before: np.ndarray | None = None,
    ) -> None:
        """Show real ``frames`` uint8 ``(B, H, W, 3)`` (all streams, or rows ``streams``).

        ``latents`` are their encodings when already computed; held pixels are compared with the decoding of
        these, so codec error on a real frame does not count as a change. A codec with a refiner decodes each
        frame from the one shown before, so its output is already close to the real frame where nothing moved:
        there the shown frame itself is the reference (comparing with the plain decoding would count the
        refiner's whole correction as change). ``before`` ``(B, F, H, W, 3)``, oldest first, are real frames
        shown before ``frames``, for a refiner that sees more than one; missing ones repeat the oldest known.
        """
        frames = np.ascontiguousarray(frames)
        if self._history > 1:
            self._start_history(frames, before, streams)
        ref = real = None
        if self.hold.enabled:
            real = to_model(frames).to(self.world.device)
        if self.hold.enabled and self.world.codec.has_refiner:
            ref = real
        elif self.hold.enabled:
            z = self.world.encode(frames) if latents is None else latents
            ref = self.world.codec.decode(z)
        background = real if self.hold.snap > 0 else None
        if streams is None or self.frames is None:
            self.frames, self._reference, self._background = frames.copy(), ref, background
            return
        idx = list(streams)
        self.frames[idx] = frames
        if ref is not None:
            self._reference[idx] = ref
        if background is not None:
            self._background[idx] = background

    @torch.no_grad()
    def show(self, latents: torch.Tensor) -> np.ndarray:
        """Decode the next latents ``(B, C, h, w)`` of every stream; returns (and keeps) uint8 ``(B, H, W, 3)``."""
        if self.frames is None:
            raise RuntimeError("call start() before show()")
        refine = self.world.codec.has_refiner
        # The frame shown now is read only by a refiner and by pixel hold.
        shown = to_model(self.frames).to(self.world.device) if refine or self.hold.enabled else None
        p = None
        if refine:
            p = shown if self._older is None else torch.cat([shown, self._older], 1)
            if self._older is not None:
                self._older = p[:, : self._older.shape[1]]
        decoded = self._decode(latents, p)
        if self.hold.enabled:
            decoded, self._reference = self._pixel_hold(decoded, shown, self._reference, self._background)
        self.frames = to_uint8(decoded).cpu().numpy()
        return self.frames

    def _start_history(self, frames: np.ndarray, before: np.ndarray | None, streams: Sequence[int] | None) -> None:
        """Set the older frames a refiner with ``refiner_history > 1`` sees (see :meth:`start`)."""
        k = self._history - 1
        past = frames[:, None] if before is None or before.shape[1] == 0 else np.asarray(before)[:, -k:]
        if past.shape[1] < k:  # an unknown past: the oldest known frame stood still
            past = np.concatenate([np.repeat(past[:, :1], k - past.shape[1], 1), past], 1)
        older = history_channels(to_model(past).to(self.world.device), k)
        if streams is None or self._older is None:
            self._older = older
        else:
            self._older[list(streams)] = older
