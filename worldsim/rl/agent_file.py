"""Agent files without pickle: a trained policy's weights as safetensors, its architecture and spaces as JSON.

stable-baselines3 saves agents as zips whose entries are unpickled on load, so opening one runs whatever code the
file holds. WorldSim writes and reads ``agent.safetensors`` instead (a ``kind="agent"`` checkpoint): the policy's
``state_dict`` plus, in the metadata, the algorithm, the policy class (one of :data:`POLICY_CLASSES`), the
observation and action spaces, the policy keyword arguments and the training steps. Loading rebuilds the policy
from that description and fills in the tensors; nothing in the file is executed.

Optimiser state can ride along (``optim.*`` tensors), so ``scripts/train_agent.py`` resumes from its own
checkpoints. A stable-baselines3 zip is opened only through :func:`convert_sb3_zip` with ``trust=True``, an explicit
statement that the file is trusted.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsim.checkpoint import load_checkpoint, load_optimizer, optimizer_tensors, save_checkpoint
from worldsim.errors import CheckpointError, ConfigError, DependencyNotInstalled

AGENT_KIND = "agent"
#: Policy classes an agent file may name (the only classes the loader will build).
POLICY_CLASSES = ("ActorCriticCnnPolicy", "ActorCriticPolicy")


def save_agent(path: str | Path, algorithm: Any, with_optimizer: bool = False, **metadata: Any) -> None:
    """Write ``algorithm``'s policy (an SB3 PPO/A2C with a discrete action space) as an agent file, atomically."""
    policy = algorithm.policy
    name = type(policy).__name__
    if name not in POLICY_CLASSES:
        raise ConfigError(f"{path}: cannot save a {name} policy; agent files hold {', '.join(POLICY_CLASSES)}")
    obs, act = algorithm.observation_space, algorithm.action_space
    # The policy and value heads share one feature extractor: its tensors appear under several names. Each is
    # written once; the others are recorded as aliases.
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    first: dict[tuple[int, tuple[int, ...]], str] = {}
    for k, v in policy.state_dict().items():
        key = (v.data_ptr(), tuple(v.shape))
        if key in first:
            aliases[f"policy.{k}"] = first[key]
        else:
            first[key] = f"policy.{k}"
            tensors[f"policy.{k}"] = v
    info = None
    if with_optimizer:
        opt_tensors, info = optimizer_tensors(policy.optimizer, prefix="optim.")
        tensors.update(opt_tensors)
    save_checkpoint(
        path,
        tensors,
        kind=AGENT_KIND,
        algorithm=type(algorithm).__name__,
        policy_class=name,
        observation_space={"shape": list(obs.shape), "low": float(np.min(obs.low)), "high": float(np.max(obs.high))},
        action_space={"n": int(act.n)},
        policy_kwargs=_json_kwargs(getattr(algorithm, "policy_kwargs", {}) or {}, path),
        num_timesteps=int(algorithm.num_timesteps),
        optimizer=info,
        aliases=aliases,
        **metadata,
    )


class AgentPolicy:
    """A loaded agent: ``predict(obs, deterministic)`` and the spaces, as the play controller and evaluation use."""

    def __init__(self, policy: Any, metadata: dict[str, Any]) -> None:
        self.policy, self.metadata = policy, metadata
        self.observation_space, self.action_space = policy.observation_space, policy.action_space
        self.num_timesteps = int(metadata.get("num_timesteps", 0))

    def predict(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, None]:
        """The policy's action for ``obs`` (one observation or a batch)."""
        return self.policy.predict(obs, deterministic=deterministic)

    def set_random_seed(self, seed: int) -> None:
        """Seed the sampling of stochastic actions."""
        torch.manual_seed(seed)


def load_agent_file(path: str | Path, device: str = "cpu", trust_pickle: bool = False) -> AgentPolicy:
    """Rebuild the policy an agent file describes and load its weights; nothing in the file is executed.

    A stable-baselines3 ``.zip`` is converted first (:func:`convert_sb3_zip`), which unpickles it: only with
    ``trust_pickle``.

    Raises:
        CheckpointError: the file is missing, damaged, not an agent file, or names a policy class it may not.
        ConfigError: a ``.zip`` without ``trust_pickle``.
        DependencyNotInstalled: stable-baselines3 is missing (the policy classes are its).
    """
    if Path(path).suffix == ".zip":
        with tempfile.TemporaryDirectory() as tmp:
            return load_agent_file(convert_sb3_zip(path, Path(tmp) / "agent.safetensors", trust_pickle), device)
    tensors, meta = load_checkpoint(path, kind=AGENT_KIND)
    policy = build_policy(meta, path, device)
    _fill(policy, tensors, meta, path)
    return AgentPolicy(policy.eval(), meta)


def _fill(policy: Any, tensors: dict[str, torch.Tensor], meta: dict[str, Any], path: str | Path) -> None:
    """Load an agent file's weights (tensors shared under several names come back shared) into ``policy``."""
    aliases = meta.get("aliases") or {}
    if not isinstance(aliases, dict) or any(v not in tensors for v in aliases.values()):
        raise CheckpointError(f"{path}: its tensor aliases name tensors it does not hold; the file is damaged")
    named = {**tensors, **{alias: tensors[name] for alias, name in aliases.items()}}
    state = {k.removeprefix("policy."): v for k, v in named.items() if k.startswith("policy.")}
    try:
        policy.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise CheckpointError(f"{path}: the weights do not fit the policy it describes ({first})") from None


def build_policy(meta: dict[str, Any], path: str | Path, device: str = "cpu") -> Any:
    """The SB3 policy object an agent file's metadata describes, with fresh weights."""
    from gymnasium import spaces

    policies = _sb3().common.policies

    name = meta.get("policy_class")
    if name not in POLICY_CLASSES:
        raise CheckpointError(f"{path}: names policy class {name!r}; agent files may hold {', '.join(POLICY_CLASSES)}")
    try:
        obs, act = meta["observation_space"], meta["action_space"]
        obs_space = spaces.Box(float(obs["low"]), float(obs["high"]), tuple(int(s) for s in obs["shape"]), np.uint8)
        act_space = spaces.Discrete(int(act["n"]))
        kwargs = dict(meta.get("policy_kwargs") or {})
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: incomplete agent description ({e}); write it with scripts/train_agent.py"
        ) from None
    try:
        policy = getattr(policies, name)(obs_space, act_space, lambda _: 0.0, **kwargs)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot build its {name} ({e})") from None
    return policy.to(device)


def resume_agent(algorithm: Any, path: str | Path) -> int:
    """Load an agent checkpoint's weights and optimiser state into ``algorithm``'s policy; returns its steps."""
    tensors, meta = load_checkpoint(path, kind=AGENT_KIND)
    if meta.get("optimizer") is None:
        raise CheckpointError(f"{path}: holds no optimiser state; it is a finished agent, not a training checkpoint")
    _fill(algorithm.policy, tensors, meta, path)
    load_optimizer(algorithm.policy.optimizer, tensors, meta["optimizer"], prefix="optim.")
    algorithm.num_timesteps = int(meta.get("num_timesteps", 0))
    return algorithm.num_timesteps


def convert_sb3_zip(zip_path: str | Path, out: str | Path, trust: bool = False) -> Path:
    """Convert a stable-baselines3 zip into an agent file.

    Loading the zip unpickles it, which runs code from the file: it happens only with ``trust=True``.
    """
    zip_path = Path(zip_path)
    if not trust:
        raise ConfigError(
            f"{zip_path}: a stable-baselines3 zip is unpickled to load, which runs code from the file; use the "
            "agent.safetensors that scripts/train_agent.py writes, convert the zip once with "
            "`python scripts/convert_agent.py ZIP --trust-pickle`, or pass --trust-pickle if you trust it"
        )
    sb3 = _sb3()
    errors = []
    for algo in ("PPO", "A2C"):
        try:
            model = getattr(sb3, algo).load(str(zip_path), device="cpu")
            break
        except Exception as e:  # noqa: BLE001 - each algorithm refuses the others' files differently
            errors.append(f"{algo}: {e}")
    else:
        raise CheckpointError(f"{zip_path}: not a stable-baselines3 PPO/A2C file ({errors[0]})")
    save_agent(out, model, converted_from=zip_path.name)
    return Path(out)


def _sb3() -> Any:
    """The stable-baselines3 module (its policy classes rebuild an agent), or the install command."""
    try:
        import stable_baselines3
        import stable_baselines3.common.policies  # noqa: F401 - the classes agent files name
    except ImportError:
        raise DependencyNotInstalled("agent files need stable-baselines3: pip install -e '.[rl]'") from None
    return stable_baselines3


def _json_kwargs(kwargs: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """Policy keyword arguments that JSON can hold (classes and callables cannot be written safely)."""
    import json

    try:
        return json.loads(json.dumps(kwargs))
    except TypeError:
        raise ConfigError(
            f"{path}: the policy's keyword arguments {sorted(kwargs)} hold objects that an agent file cannot describe"
        ) from None
