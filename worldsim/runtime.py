"""How generation uses the CPU: one compute thread per simulator unless told otherwise, and no spinning threads.

The per-frame work of a shipped world is small (well under a GFLOP in calls of a few dozen tokens), so a frame is
bound by per-operator overhead, not by arithmetic: a second thread buys little, while torch's OpenMP pool and ONNX
Runtime's pool spin against each other and against anything else on the machine. Measured on the 2-core
development machine (``make demo``'s headless drive of the shipped CarRacing world, ONNX backend; the tables are in
``docs/benchmarks.md``): on an idle machine, before this policy (torch's default of 2 threads) about 25 FPS mean
with a 115 ms 99th-percentile frame, with it about 80 FPS and 15 ms; with the other core busy, 16.5 FPS against 80.
The eager Gym env on an idle machine is the one place a second thread helps (63 against 52 steps/s).

The policy, resolved once per :class:`~worldsim.sampling.simulator.Simulator`:

- compute threads: ``WORLDSIM_THREADS`` if set, else ``OMP_NUM_THREADS`` if set, else 1. The Simulator runs its
  torch work (model, decode, pixel hold) with that many threads and restores the caller's count afterwards;
- ONNX Runtime sessions use the same count for intra-op work, one inter-op thread, and never spin-wait;
- precision: fp32, except that batches of :data:`BF16_MIN_STREAMS` streams or more generate under bf16 autocast on
  CPUs with bf16 matrix instructions: AMX-BF16 (Intel Xeon: a 1024^2 bf16 matmul runs 7x faster than fp32) or
  AVX512-BF16 (AMD Zen 4: 2.3x; the batched CarRacing env ran 73-79 -> 101 steps/s at 16 streams, 73-82 -> 108-110
  at 64). Frames stay within 37-53 dB PSNR of the fp32 ones over 40-frame rollouts (AMX; AVX512-BF16: 38 dB or more per
  stream, worst frame 34), far above the codec's own ~35 dB against real frames;
- the ``worldsim`` command sets ``OMP_WAIT_POLICY=PASSIVE`` (unless already set) before torch loads, so OpenMP
  threads that a user asks for sleep instead of spinning between calls; its generating commands (play, rollout,
  eval, bench, export) run the whole process with the compute threads, so nothing else in it (encoding start
  frames, the window) brings back a second pool. Training commands keep their own ``threads`` setting.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worldsim.errors import ConfigError, unknown_name

if TYPE_CHECKING:  # torch loads after the OpenMP policy is set (see above)
    import torch

#: Environment variable that sets the compute threads of every simulator in the process.
THREADS_ENV = "WORLDSIM_THREADS"
#: Streams from which ``precision="auto"`` generates in bf16 on a CPU with bf16 matrix instructions (measured on AMX:
#: 4 streams ran 102 -> 109 frames/s, 16 streams 129 -> 184, 256 streams 79 -> 114; one stream lost, 51 -> 42).
BF16_MIN_STREAMS = 8
PRECISIONS = ("auto", "fp32", "bf16")


@functools.cache
def cpu_info() -> dict[str, Any]:
    """The CPU's model name and whether it has AVX-512, AVX512-BF16, AMX-BF16 (``/proc/cpuinfo``; empty elsewhere)."""
    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {
        "model": model,
        "avx512": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
    }


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (AMX-BF16 or AVX512-BF16), where bf16 matmuls beat fp32."""
    info = cpu_info()
    return bool(info.get("amx_bf16") or info.get("avx512_bf16"))


def fast_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 matrix products faster than fp32: CUDA, or a CPU with :func:`cpu_has_bf16`."""
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())


def generation_bf16(precision: str, device_type: str, num_streams: int) -> bool:
    """Whether a simulator's torch work (eager/compiled model, decode) runs under bf16 autocast.

    ``bf16`` always, ``fp32`` never, ``auto`` on a CPU with bf16 matrix instructions (:func:`cpu_has_bf16`) for
    :data:`BF16_MIN_STREAMS` streams or more.
    """
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise unknown_name("precision", str(precision), PRECISIONS)
    if precision != "auto":
        return precision == "bf16"
    return device_type == "cpu" and cpu_has_bf16() and num_streams >= BF16_MIN_STREAMS


def compute_threads(requested: int | None = None) -> int:
    """Threads a simulator computes with: ``requested``, else ``WORLDSIM_THREADS``, else ``OMP_NUM_THREADS``, else 1."""
    if requested is not None and requested != 0:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ConfigError(f"threads={requested!r}: CPU threads must be a whole number >= 1 (or None: the policy's)")
        return requested
    for var in (THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) >= 1:
            return int(value)
    return 1


def quiet_openmp() -> None:
    """Make OpenMP threads sleep between calls instead of spinning (only if nobody chose a policy; before torch)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def use_generation_threads() -> int:
    """Set torch's thread count for the whole process to :func:`compute_threads` (for commands that generate)."""
    import torch

    n = compute_threads()
    torch.set_num_threads(n)
    return n


def ort_session_options(ort: Any, threads: int) -> Any:
    """ONNX Runtime session options under the policy: ``threads`` intra-op threads, one inter-op, no spinning."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts
