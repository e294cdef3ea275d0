"""Bring a real simulator into a recorded state: reset with the recorded seed, replay the recorded actions.

Simulators are deterministic for a seed and an action sequence, so this reaches the exact state a recorded
frame was taken in; the last replayed frame is compared with the recorded one, so a simulator version that
drifted is caught instead of silently showing another state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from worldsim.metrics import psnr
from worldsim.sources.base import World, make_world
from worldsim.starts import StartStates

#: A replayed frame this close to the recorded one (dB) counts as the same state.
REPLAY_MIN_PSNR = 40.0


def replay_to(
    world: World, seed: int, actions: Sequence[int], expected: np.ndarray | None = None
) -> tuple[np.ndarray, str | None]:
    """Reset ``world`` with ``seed`` and apply ``actions``; return the frame reached and why it failed (or None).

    It fails when the episode ends before the last action, or when the frame reached differs from
    ``expected`` (below :data:`REPLAY_MIN_PSNR`). The simulator is left where the replay ended.
    """
    actions = [int(a) for a in actions]
    if not actions:
        frame = world.reset(seed=int(seed))
    else:
        with world.frames_off():  # only the last frame is looked at
            world.reset(seed=int(seed))
            for t, a in enumerate(actions[:-1]):
                step = world.step(a)
                if step.terminated or step.truncated:
                    why = f"the replay of the recorded episode ended early (step {t + 1} of {len(actions)})"
                    return step.frame, why
        frame = world.step(actions[-1]).frame
    if expected is not None:
        score = float(psnr(np.asarray(frame), np.asarray(expected)))
        if score < REPLAY_MIN_PSNR:
            return frame, f"replaying the recorded actions does not reproduce the recorded frame ({score:.1f} dB)"
    return frame, None


def reach_start(world: World, starts: StartStates, index: int) -> tuple[np.ndarray | None, str | None]:
    """Put ``world`` into start state ``index`` (see :class:`~worldsim.starts.StartOrigins`).

    Returns the simulator's frame there and why it failed (None when it got there).
    """
    origin = starts.origin(index)
    if origin is None:
        return None, "this start state has no recorded simulator seed (imported or older data)"
    seed, actions = origin
    return replay_to(world, seed, actions, starts.frames[index, -1])


def open_start_world(name: str, starts: StartStates, resolution: tuple[int, int]) -> World:
    """The real simulator ``name`` configured as the start states' episodes were recorded, without a step limit.

    The recorded config (e.g. CarRacing's action repeat) decides what one step is, so replays match; the limit
    is lifted because a start may lie close to the end of a recorded episode and the run goes on from there.
    """
    config = dict(starts.origins.world_config) if starts.origins is not None else {}
    config.update(height=resolution[0], width=resolution[1], max_episode_steps=0)
    return make_world(name, config)
