"""Reinforcement learning in a learned world: agents trained inside ``WorldSim-v0``, evaluated in the real one.

- :mod:`worldsim.rl.ppo`: a CleanRL-style minimal PPO over the native vector env (no extra dependency).
- :mod:`worldsim.rl.sb3`: stable-baselines3 glue (the ``[rl]`` extra): a Gymnasium vector env as an SB3 ``VecEnv``.
- :mod:`worldsim.rl.evaluate`: episodes of any policy in the real simulator, and the normalised score.
"""
