"""Settings of ``worldsim play`` and how a session is built from them (shared by the window and headless play)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worldsim.errors import ConfigError
from worldsim.play.controllers import (
    Controller,
    ControllerSet,
    HumanController,
    PolicyController,
    ReplayController,
    load_replay,
    make_policy_controller,
)
from worldsim.play.keymap import KeyMap
from worldsim.play.reference import real_world_name
from worldsim.play.session import PlaySession, SessionOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlayConfig:
    """Everything ``worldsim play`` can be told.

    Attributes:
        world: Shipped world name or checkpoint path (default: ``carracing``).
        sampling: Overrides of the world's sampling recipe (``{"steps": 2}``; see
            :func:`~worldsim.sampling.config.resolve_sampling`). Steps stay changeable live.
        speculative: Speculative lookahead; > 0 starts with speculation on (``L`` toggles; 2 when 0).
        backend: ``auto``, ``eager``, ``compile``, ``onnx``, ``tensorrt``.
        device: ``auto``, ``cpu``, ``cuda``.
        scale: Window pixels per model pixel.
        fps: Target frame rate (default: the world's).
        keys: Key rebinding file (YAML or TOML).
        policy: Policy name (``random``, ``pilot``, ``scripted``) or agent file (``agent.safetensors``) for the policy
            controller.
        trust_pickle: Allow a stable-baselines3 ``.zip`` agent, which is unpickled and so can run code from the file.
        replay: ``DATASET_DIR:EPISODE`` or an action file to replay.
        side_by_side: Show the real simulator (or the replayed recording) beside the learned world.
        record: Start recording at once into this directory.
        save_dir: Where screenshots and recordings started with the record key go.
        seed: First start state and sampling noise.
        headless: No window: play ``actions`` (or the replay/policy) and write ``out``.
        actions: Action file for headless play.
        out: Headless video path (a JSON of timings is written beside it).
        frames: Headless frames to play with a policy (action files play to their end).
        cache_dir: Where exported programs (ONNX, TensorRT) are kept (default: ``~/.cache/worldsim/programs``).
    """

    world: str | None = None
    sampling: dict[str, Any] = field(default_factory=dict)
    speculative: int = 0
    backend: str = "auto"
    device: str = "auto"
    scale: int = 8
    fps: float | None = None
    keys: str | None = None
    policy: str | None = None
    trust_pickle: bool = False
    replay: str | None = None
    side_by_side: bool = False
    record: str | None = None
    save_dir: str = "worldsim-play"
    seed: int = 0
    headless: bool = False
    actions: str | None = None
    out: str = "play.mp4"
    frames: int = 300
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.speculative < 0:
            raise ConfigError(f"--speculative must be >= 0, got {self.speculative}")
        if self.scale < 1:
            raise ConfigError(f"--scale must be >= 1, got {self.scale}")
        if self.fps is not None and self.fps < 0:
            raise ConfigError(f"--fps must be >= 0 (0: as fast as possible), got {self.fps}")
        if self.frames < 1:
            raise ConfigError(f"--frames must be >= 1, got {self.frames}")
        if self.headless and not (self.actions or self.replay or self.policy):
            raise ConfigError("--headless needs something to play: --actions FILE, --replay or --policy")


def program_cache_dir(cfg: PlayConfig) -> Path:
    """Where exported step programs are kept between runs (keyed by the weights' hash, so always safe)."""
    if cfg.cache_dir:
        return Path(cfg.cache_dir)
    if os.environ.get("WORLDSIM_CACHE"):
        return Path(os.environ["WORLDSIM_CACHE"]) / "programs"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "worldsim" / "programs"


def build_session(cfg: PlayConfig, keyboard: bool = True) -> PlaySession:
    """Load the world and check every file and name given (fast); the warm-up happens in ``session.start()``."""
    from worldsim.sampling.simulator import Simulator

    sim = Simulator.load(
        cfg.world,
        device=cfg.device,
        sampling=cfg.sampling,
        backend=cfg.backend,
        seed=cfg.seed,
        cache_dir=program_cache_dir(cfg),
    )
    schema, res = sim.schema, sim.resolution
    keymap = KeyMap.from_schema(schema, cfg.keys) if keyboard else None
    context = int(sim.starts.frames.shape[1]) if sim.starts is not None else sim.context_frames
    real = real_world_name(schema)
    policy: Controller = (
        make_policy_controller(cfg.policy, schema.world, schema, res, cfg.seed, cfg.trust_pickle)
        if cfg.policy
        else PolicyController("random", schema.world, schema, cfg.seed)
    )
    if policy.needs_real and real is None:
        raise ConfigError(
            f"policy {cfg.policy!r} steers by the real simulator's state, and world {sim.name!r} has none; "
            "use --policy random or an agent file"
        )
    controllers: list[Controller] = [HumanController(), policy]
    replay_spec = cfg.replay or cfg.actions
    if replay_spec:
        controllers.append(ReplayController(load_replay(replay_spec, schema, res, context)))
    first = "replay" if replay_spec else "policy" if cfg.policy else "human"
    if first == "policy" and not isinstance(policy, PolicyController):
        first = "agent"
    options = SessionOptions(
        seed=cfg.seed,
        speculative=cfg.speculative or 2,
        speculate=cfg.speculative > 0,
        fps=cfg.fps if cfg.fps is not None else sim.world.fps,
        side_by_side=cfg.side_by_side or (policy.needs_real and first == "policy"),
        real_world=real,
        save_dir=cfg.save_dir,
        context=context,
    )
    chosen = ControllerSet(controllers)
    chosen.select(first)
    return PlaySession(sim, keymap, chosen, options)
