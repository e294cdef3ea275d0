"""Source worlds: adapters around the real simulators WorldSim learns from.

>>> from envs import make_world
>>> world = make_world("toy")
>>> frame = world.reset(seed=0)
>>> frame.shape, frame.dtype
((64, 64, 3), dtype('uint8'))
>>> world.schema.names
['noop', 'up', 'down', 'left', 'right']
"""

from envs.base import WORLDS, Step, World, WorldConfig, WorldEntry, make_config, make_world, register, world_class

register(WorldEntry("toy", "envs.toy:ToyWorld", "numpy", "Procedural coin-collecting world for tests (fast)."))
register(
    WorldEntry(
        "carracing",
        "envs.carracing:CarRacingWorld",
        "gymnasium CarRacing-v3",
        "Top-down racing on random tracks (driving).",
        requires="gymnasium and box2d",
    )
)
register(
    WorldEntry(
        "highway",
        "envs.highway:HighwayWorld",
        "highway-env",
        "Top-down traffic: highway, merge, roundabout, intersection (driving).",
        requires="highway-env",
    )
)
register(
    WorldEntry(
        "doom",
        "envs.doom:DoomWorld",
        "VizDoom",
        "First-person shooter with moving enemies (game).",
        requires="vizdoom",
    )
)
register(
    WorldEntry(
        "breakout",
        "envs.atari:BreakoutWorld",
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
