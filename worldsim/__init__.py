"""WorldSim: learn a game or driving world from recorded frames and actions, then play inside it.

Importing :mod:`worldsim` is cheap: heavy modules (torch, simulators) load only when used. It registers the
Gymnasium environments ``WorldSim-v0`` (a learned world) and ``WorldSimReal-v0`` (the real source world with
the same spaces) by string entry points, so ``gym.make("WorldSim-v0")`` works after ``import worldsim`` and
``gym.make("worldsim:WorldSim-v0")`` works without it.
"""

__version__ = "0.1.0"


def _register_envs() -> None:
    """Register the Gymnasium envs; a missing gymnasium only means there is nothing to register."""
    try:
        from gymnasium.envs.registration import register, registry
    except ImportError:
        return
    if "WorldSim-v0" not in registry:
        register(
            id="WorldSim-v0",
            entry_point="worldsim.envs.learned:WorldSimEnv",
            vector_entry_point="worldsim.envs.vector:WorldSimVectorEnv",
            max_episode_steps=1000,
        )
    if "WorldSimReal-v0" not in registry:
        register(id="WorldSimReal-v0", entry_point="worldsim.envs.real:RealWorldEnv")


_register_envs()
