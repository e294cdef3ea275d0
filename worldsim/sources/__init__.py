"""Source worlds: adapters around the real simulators WorldSim learns from.

>>> from worldsim.sources import make_world
>>> world = make_world("toy")
>>> frame = world.reset(seed=0)
>>> frame.shape, frame.dtype
((64, 64, 3), dtype('uint8'))
>>> world.schema.names
['noop', 'up', 'down', 'left', 'right']
"""

from worldsim.sources.base import (
    WORLDS,
    Step,
    World,
    WorldConfig,
    WorldEntry,
    make_config,
    make_world,
    register,
    world_class,
)

register(
    WorldEntry("toy", "worldsim.sources.toy:ToyWorld", "numpy", "Procedural coin-collecting world for tests (fast).")
)
register(
    WorldEntry(
        "carracing",
        "worldsim.sources.carracing:CarRacingWorld",
        "gymnasium CarRacing-v3",
        "Top-down racing on random tracks (driving).",
        requires="gymnasium and box2d",
    )
)
register(
    WorldEntry(
        "highway",
        "worldsim.sources.highway:HighwayWorld",
        "highway-env",
        "Top-down traffic: highway, merge, roundabout, intersection (driving).",
        requires="highway-env",
    )
)
register(
    WorldEntry(
        "doom",
        "worldsim.sources.doom:DoomWorld",
        "VizDoom",
        "First-person shooter with moving enemies (game).",
        requires="vizdoom",
    )
)
register(
    WorldEntry(
        "breakout",
        "worldsim.sources.atari:BreakoutWorld",
        "ALE Atari Breakout",
        "Atari Breakout through ale-py (game).",
        requires="ale-py",
    )
)

__all__ = [
    "WORLDS",
    "Step",
    "World",
    "WorldConfig",
    "WorldEntry",
    "make_config",
    "make_world",
    "register",
    "world_class",
]
