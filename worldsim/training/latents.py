"""Pre-encoded latents: the dataset's frames passed once through the codec, memory-mapped for training.

Dynamics training reads latents, never pixels, so the codec runs once per frame instead of once per
sample. The cache lives beside the dataset (``DATA/.latents/<codec hash>/``), shared by every run and
distillation that uses the same codec; a new codec gets its own encoding.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from worldsim.codec.autoencoder import FrameCodec, to_model
from worldsim.data.dataset import Dataset
from worldsim.data.shards import memmap_safetensors, serialize_safetensors
from worldsim.errors import DatasetError
from worldsim.io import atomic_write_bytes

log = logging.getLogger(__name__)


def codec_digest(codec: FrameCodec) -> str:
    """Hash of the codec's weights and normalisation (what the cached latents depend on).

    The refiner only acts on decoding, so it is left out: adding one keeps a world's cached latents valid.
    """
    h = hashlib.sha256()
    for k, v in sorted(codec.state_dict().items()):
        if k.startswith("refiner."):
            continue
        h.update(k.encode())
        h.update(v.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def encode_dataset(
    ds: Dataset, codec: FrameCodec, cache_dir: str | Path, batch_size: int = 256, progress: bool = True
) -> list[np.ndarray]:
    """Latents ``(frames, C, h, w)`` float16 for every shard of ``ds``, encoding only what is not cached."""
    cache_dir = Path(cache_dir)
    digest = codec_digest(codec)
    device = next(codec.parameters()).device
    out: list[np.ndarray] = []
    todo = []
    for shard in ds.shards:
        path = cache_dir / f"{shard.path.stem}.latents.safetensors"
        if path.exists():
            try:
                arrays, meta = memmap_safetensors(path)
                if meta.get("codec") == digest and len(arrays["latents"]) == len(shard.arrays["frames"]):
                    out.append(arrays["latents"])
                    continue
            except DatasetError:
                pass
        todo.append((len(out), shard, path))
        out.append(None)  # type: ignore[arg-type]
    total = sum(len(s.arrays["frames"]) for _, s, _ in todo)
    codec.eval()
    with tqdm(total=total, desc="encode latents", unit="frame", disable=not progress or not total) as bar:
        for i, shard, path in todo:
            frames = shard.arrays["frames"]
            chunks = []
            for s in range(0, len(frames), batch_size):
                x = to_model(np.asarray(frames[s : s + batch_size])).to(device)
                chunks.append(codec.encode(x).to(torch.float16).cpu().numpy())
                bar.update(len(x))
            latents = np.concatenate(chunks)
            atomic_write_bytes(path, serialize_safetensors({"latents": latents}, {"codec": digest}))
            out[i] = memmap_safetensors(path)[0]["latents"]
    return out


def dataset_latents(ds: Dataset, codec: FrameCodec, progress: bool = True) -> list[np.ndarray]:
    """:func:`encode_dataset` into the cache beside the dataset, ``DATA/.latents/<codec hash>/``.

    Every run with this codec (training, distillation, refiner, heads) shares it.
    """
    return encode_dataset(ds, codec, Path(ds.root) / ".latents" / codec_digest(codec), progress=progress)
