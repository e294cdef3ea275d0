"""Execution backends for the per-frame step: eager PyTorch, torch.compile, ONNX Runtime, TensorRT.

Every backend exposes what the samplers use: ``cfg``, ``cache_dtype`` and ``forward_cached(...)`` with the
semantics of :meth:`~worldsim.model.dynamics.DynamicsTransformer.forward_cached`. The unit that is compiled or
exported is the pure :meth:`~worldsim.model.dynamics.DynamicsTransformer.step_tokens` (static shapes: a fixed
cache size and a validity mask), and the cache write stays a small in-place scatter in PyTorch. ``decoder(codec)``
is how the frames are decoded beside the step: the codec itself, or on the ONNX backend the codec's decode exported
to ONNX Runtime too (a third of a Doom frame's time on one core was the eager decode).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from worldsim.codec.autoencoder import FrameCodec
from worldsim.errors import DependencyNotInstalled, unknown_name
from worldsim.model.dynamics import DynamicsTransformer, KVCache
from worldsim.runtime import compute_threads, ort_session_options

log = logging.getLogger(__name__)

#: ONNX opset of exported steps. Opset 23 has Attention and RMSNormalization as single operators, which ONNX
#: Runtime (>= 1.23) runs as one kernel each instead of about 30 small ones per block: the Doom step went from 5.1
#: to 4.4 ms a call on one core (docs/benchmarks.md). Part of the cached graph's name, so older graphs are re-exported.
ONNX_OPSET = 23
BACKENDS = ("auto", "eager", "compile", "onnx", "tensorrt")
INSTALL = {
    "onnx": "pip install onnxruntime onnx onnxscript  (or: pip install -e '.[onnx]')",
    "tensorrt": "pip install -e '.[tensorrt]'  (torch-tensorrt matching your torch, NVIDIA GPU only)",
}


class EagerBackend:
    """Plain PyTorch."""

    name = "eager"

    def __init__(self, model: DynamicsTransformer) -> None:
        self.model, self.cfg = model, model.cfg

    @property
    def cache_dtype(self) -> torch.dtype:
        """Dtype of the KV cache."""
        return self.model.cache_dtype

    def step(self, x, t, actions, positions, cache: KVCache, d):
        """Outputs and new keys/values of the new frames (no cache mutation)."""
        return self.model.step_tokens(x, t, actions, positions, cache.k, cache.v, cache.slot_frame, d)

    def decoder(self, codec: FrameCodec) -> Callable[..., torch.Tensor]:
        """``decode(latents, prev=None)`` for the frames this backend generates: here the codec's own."""
        return codec.decode

    def forward_cached(self, x, t, actions, positions, cache: KVCache, commit: bool = False, d=None):
        """See :meth:`DynamicsTransformer.forward_cached`."""
        out, new_kv = self.step(x, t, actions, positions, cache, d)
        if commit:
            cache.write(new_kv, positions, x.shape[1])
        return out


class CompileBackend(EagerBackend):
    """``torch.compile`` of the pure step; on CUDA with CUDA graphs (``mode="reduce-overhead"``)."""

    name = "compile"

    def __init__(self, model: DynamicsTransformer) -> None:
        super().__init__(model)
        cuda = next(model.parameters()).is_cuda
        self._step = torch.compile(model.step_tokens, mode="reduce-overhead" if cuda else None, dynamic=False)
        self._cuda = cuda

    def step(self, x, t, actions, positions, cache: KVCache, d):
        """Compiled step; outputs are cloned because CUDA-graph replays overwrite their buffers."""
        if self._cuda:
            torch.compiler.cudagraph_mark_step_begin()
        out, new_kv = self._step(x, t, actions, positions, cache.k, cache.v, cache.slot_frame, d)
        if self._cuda:
            out = {k: v.clone() for k, v in out.items()}
            new_kv = [(k.clone(), v.clone()) for k, v in new_kv]
        return out, new_kv


class _StepModule(nn.Module):
    """``step_tokens`` with flat tensor inputs/outputs, for export."""

    def __init__(self, model: DynamicsTransformer, has_d: bool) -> None:
        super().__init__()
        self.model, self.has_d, self.depth = model, has_d, model.cfg.depth

    def forward(self, x, t, actions, positions, slot_frame, *rest):
        d = rest[0] if self.has_d else None
        kv = rest[1:] if self.has_d else rest
        ks, vs = list(kv[: self.depth]), list(kv[self.depth :])
        out, new_kv = self.model.step_tokens(x, t, actions, positions, ks, vs, slot_frame, d)
        return (out["v"], out["reward"], out["term_logit"], *[k for k, _ in new_kv], *[v for _, v in new_kv])


def _flat_inputs(x, t, actions, positions, cache: KVCache, d) -> list[torch.Tensor]:
    return [x, t, actions, positions, cache.slot_frame, *([d] if d is not None else []), *cache.k, *cache.v]


def export_onnx(module: nn.Module, args: list[torch.Tensor], path: Path) -> None:
    """Export ``module`` called on ``args`` (static shapes) to ``path`` at :data:`ONNX_OPSET`, atomically."""
    # The exporter logs every pass at INFO and warns about optional packages (torchvision) and its own
    # deprecations: none of it is for the user, whose console shows WorldSim's lines only.
    for noisy in ("onnx_ir", "onnxscript", "torch.onnx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    tmp = path.with_name(path.name + ".tmp.onnx")
    # optimize=False: ONNX Runtime optimises the graph itself when it loads it. The exporter's own pass made an
    # export take 5.4 s instead of 2.5 s here, and the graph ran no faster (5.4 against 4.7 ms per call).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(args),
            str(tmp),
            dynamo=True,
            optimize=False,
            verbose=False,
            external_data=False,
            opset_version=ONNX_OPSET,
        )
    tmp.replace(path)


def onnx_session(ort: Any, path: Path, threads: int, cuda: bool, export: Callable[[], None]) -> Any:
    """ONNX Runtime session of the graph at ``path`` under the CPU policy; ``export()`` writes the graph if missing.

    Graphs saved by ``worldsim export`` (or an earlier run) are reused: their names carry the weights' hash.
    """
    if not path.exists():
        export()
    providers = (["CUDAExecutionProvider"] if cuda else []) + ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), ort_session_options(ort, threads), providers=providers)


def run_onnx(sess: Any, args: list[torch.Tensor]) -> list[np.ndarray]:
    """Outputs of session ``sess`` on ``args``, given in the order of the graph's inputs."""
    feeds = {i.name: a.detach().cpu().numpy() for i, a in zip(sess.get_inputs(), args, strict=True)}
    return sess.run(None, feeds)


class _DecodeModule(nn.Module):
    """``codec.decode(z[, prev])`` with tensor inputs only, for export."""

    def __init__(self, codec: FrameCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, z: torch.Tensor, *prev: torch.Tensor) -> torch.Tensor:
        return self.codec.decode(z, prev[0] if prev else None)


class OnnxDecoder:
    """``codec.decode`` exported to ONNX and run by ONNX Runtime: one graph per batch size and history.

    The decoder and refiner are a few dozen small convolutions; on one core ONNX Runtime runs them in 3.6 ms where
    eager PyTorch takes 5.5 (Doom's codec; docs/benchmarks.md). Graphs are cached like the step's, by weights.
    """

    def __init__(self, codec: FrameCodec, directory: Path, ort: Any, threads: int) -> None:
        self.codec, self._dir, self._ort, self._threads = codec, directory, ort, threads
        self._digest = weights_digest(codec)
        self._sessions: dict[tuple, Any] = {}

    def __call__(self, z: torch.Tensor, prev: torch.Tensor | None = None) -> torch.Tensor:
        """Frames ``(B, 3, H, W)`` of normalised latents ``z``, as :meth:`FrameCodec.decode`."""
        args = [z.float()] if prev is None or not self.codec.has_refiner else [z.float(), prev.float()]
        key = tuple(tuple(a.shape) for a in args)
        if key not in self._sessions:
            prev_channels = args[1].shape[1] if len(args) > 1 else 0
            name = f"decode-{'-'.join(map(str, z.shape))}-{prev_channels}-{self._digest}-opset{ONNX_OPSET}.onnx"
            path = self._dir / name

            def export() -> None:
                export_onnx(_DecodeModule(self.codec).eval(), args, path)
                log.info("exported the decoder to %s", path)

            self._sessions[key] = onnx_session(self._ort, path, self._threads, False, export)
        return torch.from_numpy(run_onnx(self._sessions[key], args)[0])


class OnnxBackend(EagerBackend):
    """The step exported to ONNX (one graph per number of new frames) and run by ONNX Runtime."""

    name = "onnx"

    def __init__(self, model: DynamicsTransformer, cache_dir: str | Path | None = None, threads: int = 1) -> None:
        super().__init__(model)
        import onnxruntime as ort

        self._threads = threads
        self._ort = ort
        self._dir = Path(cache_dir or tempfile.mkdtemp(prefix="worldsim-onnx-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        self._sessions: dict[tuple, Any] = {}
        self._decoders: dict[int, OnnxDecoder] = {}
        self._device = next(model.parameters()).device
        self._digest = weights_digest(model)

    def _session(self, args: list[torch.Tensor], has_d: bool):
        key = tuple(tuple(a.shape) for a in args[:2]) + (has_d,)
        if key not in self._sessions:
            shape = "-".join(map(str, args[0].shape))
            path = self._dir / f"step-{shape}-{int(has_d)}-{self._digest}-opset{ONNX_OPSET}.onnx"
            cuda = self._device.type == "cuda"
            export = functools.partial(self._export, args, has_d, path)
            self._sessions[key] = onnx_session(self._ort, path, self._threads, cuda, export)
        return self._sessions[key]

    def _export(self, args: list[torch.Tensor], has_d: bool, path: Path) -> None:
        export_onnx(_StepModule(self.model, has_d).eval(), args, path)
        log.info("exported the %s-frame step to %s", args[0].shape[1], path)

    def decoder(self, codec: FrameCodec) -> Callable[..., torch.Tensor]:
        """The codec's decode run by ONNX Runtime on a CPU (:class:`OnnxDecoder`); the codec's own elsewhere."""
        if self._device.type != "cpu":
            return codec.decode
        if id(codec) not in self._decoders:  # one per codec: the warm-up's sessions serve play afterwards
            self._decoders[id(codec)] = OnnxDecoder(codec, self._dir, self._ort, self._threads)
        return self._decoders[id(codec)]

    def forward_cached(self, x, t, actions, positions, cache: KVCache, commit: bool = False, d=None):
        """See :meth:`DynamicsTransformer.forward_cached`; the context fill runs eager.

        Filling the cache from real context frames (a commit of several frames) happens once per reset, where eager
        costs a few milliseconds; exporting its graph cost a quarter of a cold start's wait.
        """
        if commit and x.shape[1] > 1:
            out, new_kv = EagerBackend.step(self, x, t, actions, positions, cache, d)
            cache.write(new_kv, positions, x.shape[1])
            return out
        return super().forward_cached(x, t, actions, positions, cache, commit, d)

    def step(self, x, t, actions, positions, cache: KVCache, d):
        """Run the exported step."""
        args = _flat_inputs(x, t, actions, positions, cache, d)
        outputs = run_onnx(self._session(args, d is not None), args)
        res = [torch.from_numpy(np.asarray(r)).to(self._device) for r in outputs]
        depth = self.cfg.depth
        out = {"v": res[0], "reward": res[1], "term_logit": res[2]}
        return out, list(zip(res[3 : 3 + depth], res[3 + depth :], strict=True))


class TensorRTBackend(EagerBackend):
    """torch-tensorrt (dynamo path, static shapes) of the step; NVIDIA GPUs only.

    ``attn_bias_is_causal=False`` is essential: torch-tensorrt >= 2.11 otherwise replaces a square boolean
    attention mask by a token-causal one, silently breaking the block-causal mask of multi-frame calls.
    """

    name = "tensorrt"

    def __init__(self, model: DynamicsTransformer, cache_dir: str | Path | None = None) -> None:
        super().__init__(model)
        import torch_tensorrt

        self._trt = torch_tensorrt
        self._programs: dict[tuple, Any] = {}
        self._dir = Path(cache_dir) if cache_dir else None
        self._digest = weights_digest(model)

    def _program(self, args: list[torch.Tensor], has_d: bool):
        key = tuple(tuple(a.shape) for a in args[:2]) + (has_d,)
        if key not in self._programs:
            name = f"step-{'-'.join(map(str, args[0].shape))}-{int(has_d)}-{self._digest}.ep"
            path = self._dir / name if self._dir else None
            if path is not None and path.exists():
                self._programs[key] = self._trt.load(str(path)).module()
            else:
                module = _StepModule(self.model, has_d).eval()
                ep = torch.export.export(module, tuple(args))
                program = self._trt.dynamo.compile(
                    ep, arg_inputs=tuple(args), attn_bias_is_causal=False, min_block_size=1
                )
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._trt.save(program, str(path), arg_inputs=tuple(args))
                self._programs[key] = program
        return self._programs[key]

    def step(self, x, t, actions, positions, cache: KVCache, d):
        """Run the TensorRT program."""
        args = _flat_inputs(x, t, actions, positions, cache, d)
        res = self._program(args, d is not None)(*args)
        depth = self.cfg.depth
        out = {"v": res[0], "reward": res[1], "term_logit": res[2]}
        return out, list(zip(res[3 : 3 + depth], res[3 + depth :], strict=True))


def weights_digest(model: nn.Module) -> str:
    """Short hash of a model's weights (exported programs are only reused for the same weights)."""
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:12]


def check_backend(name: str, device: torch.device) -> str | None:
    """Why ``name`` cannot run on ``device`` (with the install command), or None if it can."""
    if name not in BACKENDS:
        raise unknown_name("backend", name, BACKENDS)
    if name == "onnx" and importlib.util.find_spec("onnxruntime") is None:
        return f"backend 'onnx' needs ONNX Runtime: {INSTALL['onnx']}"
    if name == "tensorrt":
        if device.type != "cuda":
            return "backend 'tensorrt' needs an NVIDIA GPU (device is CPU); use 'compile' or 'onnx'"
        if importlib.util.find_spec("torch_tensorrt") is None:
            return f"backend 'tensorrt' needs torch-tensorrt: {INSTALL['tensorrt']}"
    return None


def make_backend(
    model: DynamicsTransformer,
    name: str | EagerBackend = "auto",
    cache_dir: str | Path | None = None,
    threads: int | None = None,
) -> EagerBackend:
    """Wrap ``model`` in backend ``name``; ``auto`` picks the fastest that works here and logs which.

    ``cache_dir`` keeps exported programs (ONNX graphs, TensorRT programs) for reuse across runs. A backend
    already built is returned as it is (its compiled shapes are shared). ``threads``: ONNX Runtime's intra-op
    threads (default: :func:`worldsim.runtime.compute_threads`).
    """
    if isinstance(name, EagerBackend):
        return name
    device = next(model.parameters()).device
    if name == "auto":
        order = ["tensorrt", "compile"] if device.type == "cuda" else ["onnx", "eager"]
        name = next(n for n in order if check_backend(n, device) is None)
        log.info("backend auto -> %s", name)
    reason = check_backend(name, device)
    if reason:
        raise DependencyNotInstalled(reason)
    if name == "onnx":
        return OnnxBackend(model, cache_dir, compute_threads(threads))
    if name == "tensorrt":
        return TensorRTBackend(model, cache_dir)
    return {"eager": EagerBackend, "compile": CompileBackend}[name](model)
