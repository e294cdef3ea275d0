"""Scenario files: a start situation, what the driver does (one program per branch), how long and how often.

A scenario is a YAML file (format in ``docs/scenarios.md``)::

    world: highway
    options: {scenario: merge}
    start: {seed: 3, warmup: [{action: noop, frames: 5}]}
    horizon: 30
    samples: 3
    branches:
      yield: [{action: slower, frames: 30}]
      keep_going: noop

Everything is checked when the file is read: an unknown key, a bad action or policy name, a negative
duration each raise one :class:`~worldsim.errors.ConfigError` line ``file.yaml:LINE: what is wrong; the fix``.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worldsim.actions import ActionSchema
from worldsim.errors import ConfigError, Error
from worldsim.policies.base import POLICIES, available_policies, make_policy
from worldsim.rollout.located import Located, load_located
from worldsim.rollout.programs import Program, Segment
from worldsim.sources.base import WORLDS, make_config, world_class

#: Top-level keys of a scenario file, with what they mean (shown when a key is unknown).
TOP_KEYS: dict[str, str] = {
    "name": "output name (default: the file name)",
    "description": "one line shown in the report",
    "world": "source world: carracing, highway, ...",
    "options": "world options, e.g. {scenario: merge}",
    "model": "shipped world name or checkpoint path (default: the shipped world named like `world`)",
    "start": "{seed, warmup} or {dataset, episode, frame}",
    "program": "action program of the branch 'main'",
    "branches": "name -> action program",
    "horizon": "frames generated after the start",
    "samples": "model samples per branch",
    "seed": "seed of the model's noise and of the policies",
    "steps": "denoising steps (default: the model's)",
}
SEGMENT_KEYS = ("action", "policy", "params", "frames")
SEED_START_KEYS = ("seed", "warmup")
DATASET_START_KEYS = ("dataset", "episode", "frame")
MAIN_BRANCH = "main"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class SeedStart:
    """Start from a fresh episode of the real simulator.

    Attributes:
        seed: Seed of the simulator's reset (track, traffic).
        warmup: Actions played before the scenario starts (``None``: start at the reset frame). The last
            frames it produces are the model's context.
    """

    seed: int = 0
    warmup: Program | None = None


@dataclass(frozen=True)
class DatasetStart:
    """Start from a recorded frame: the frames up to ``frame`` of episode ``episode`` are the context.

    Attributes:
        dataset: Dataset directory (``worldsim collect`` output).
        episode: Episode index in the dataset.
        frame: Frame index in the episode; the scenario starts after it.
    """

    dataset: str
    episode: int
    frame: int


@dataclass(frozen=True)
class Branch:
    """One alternative future: a name and its action program."""

    name: str
    program: Program


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario file. See the module docstring and ``docs/scenarios.md``.

    Attributes:
        name: Output directory name.
        world: Source world (real simulator) name.
        start: Where the scenario starts.
        branches: Alternative programs played from the same start.
        horizon: Frames generated (and simulated) per branch.
        samples: Model samples per branch (different sampling noise).
        seed: Seed of the model's noise and the policies' generators.
        options: World options (fields of the world's config).
        model: Shipped world name or checkpoint path (``None``: the shipped world named ``world``).
        steps: Denoising steps (``None``: the model's default).
        description: Free text for the report.
        path: The file it was read from.
        lines: 1-based line of each top-level key, for errors found later (e.g. a missing model).
    """

    name: str
    world: str
    start: SeedStart | DatasetStart
    branches: tuple[Branch, ...]
    horizon: int
    samples: int = 2
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    model: str | None = None
    steps: int | None = None
    description: str = ""
    path: str = ""
    lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def model_spec(self) -> str:
        """The model to load: ``model`` or the shipped world named like the source world."""
        return self.model or self.world

    @property
    def schema(self) -> ActionSchema:
        """Action schema of the source world."""
        return world_class(self.world).schema

    def where(self, key: str | None = None) -> str:
        """``file:line`` of a top-level key (or the file alone), for error messages."""
        line = self.lines.get(key) if key else None
        return f"{self.path}:{line}" if line else str(self.path)

    def to_json(self) -> dict[str, Any]:
        """A plain, JSON-ready description (for reports and the completion hash)."""
        if isinstance(self.start, SeedStart):
            warmup = self.start.warmup.describe() if self.start.warmup else None
            start: dict[str, Any] = {"seed": self.start.seed, "warmup": warmup}
        else:
            start = {"dataset": self.start.dataset, "episode": self.start.episode, "frame": self.start.frame}
        return {
            "name": self.name,
            "file": str(self.path),
            "description": self.description,
            "world": self.world,
            "options": dict(self.options),
            "model": self.model_spec,
            "start": start,
            "horizon": self.horizon,
            "samples": self.samples,
            "seed": self.seed,
            "steps": self.steps,
            "branches": {b.name: b.program.describe() for b in self.branches},
        }


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises:
        ConfigError: anything wrong in the file, as one line ``file:line: problem; fix``.
    """
    path = Path(path)
    root = load_located(path)
    return _Parser(path).scenario(root)


class _Parser:
    """Turns located YAML into a :class:`Scenario`, failing at the first problem with its line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.world = ""
        self.schema: ActionSchema | None = None

    def fail(self, line: int, message: str) -> ConfigError:
        return ConfigError(f"{self.path}:{line}: {message}")

    # -- generic checks ------------------------------------------------------------------------------

    def check_keys(self, node: Located, valid: Mapping[str, Any] | tuple[str, ...], what: str) -> None:
        for key, line in node.key_lines.items():
            if key not in valid:
                close = difflib.get_close_matches(key, list(valid), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(line, f"unknown key {key!r} in {what}{hint}; valid keys: {', '.join(valid)}")

    def mapping(self, node: Located, what: str) -> Located:
        if not node.is_map:
            raise self.fail(node.line, f"{what} must be a mapping (key: value lines), got {_show(node)}")
        return node

    def integer(self, node: Located, what: str, minimum: int) -> int:
        v = node.value
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(node.line, f"{what} must be an integer >= {minimum}, got {_show(node)}")
        if v < minimum:
            fix = "a positive number of frames" if what.endswith("frames") else f"an integer >= {minimum}"
            raise self.fail(node.line, f"{what} must be {fix}, got {v}")
        return v

    def string(self, node: Located, what: str) -> str:
        if not isinstance(node.value, str) or not node.value.strip():
            raise self.fail(node.line, f"{what} must be a non-empty string, got {_show(node)}")
        return node.value

    # -- the file ------------------------------------------------------------------------------------

    def scenario(self, root: Located) -> Scenario:
        if not root.is_map:
            raise self.fail(root.line, "a scenario file is a mapping of keys (world, start, horizon, ...)")
        self.check_keys(root, TOP_KEYS, "the scenario")
        m, lines = root.value, root.key_lines
        for key in ("world", "start", "horizon"):
            if key not in m:
                raise self.fail(1, f"missing key {key!r} ({TOP_KEYS[key]}); see docs/scenarios.md")
        self.world = self.world_name(m["world"])
        self.schema = world_class(self.world).schema
        options = self.options(m["options"]) if "options" in m else {}
        horizon = self.integer(m["horizon"], "horizon", 1)
        start = self.start(m["start"])
        if isinstance(start, DatasetStart) and options:
            raise self.fail(
                lines["options"], "'options' cannot be combined with a dataset start: the recorded world config is used"
            )
        branches = self.branches(m, horizon)
        name = self.string(m["name"], "name") if "name" in m else self.path.stem
        if not _NAME.match(name):
            raise self.fail(lines.get("name", 1), f"name {name!r} must use only letters, digits, '_', '-' and '.'")
        return Scenario(
            name=name,
            world=self.world,
            start=start,
            branches=branches,
            horizon=horizon,
            samples=self.integer(m["samples"], "samples", 1) if "samples" in m else 2,
            seed=self.integer(m["seed"], "seed", 0) if "seed" in m else 0,
            options=options,
            model=self.string(m["model"], "model") if "model" in m else None,
            steps=self.integer(m["steps"], "steps", 1) if "steps" in m and m["steps"].value is not None else None,
            description=str(m["description"].value or "") if "description" in m else "",
            path=str(self.path),
            lines=dict(lines),
        )

    def world_name(self, node: Located) -> str:
        name = self.string(node, "world")
        if name not in WORLDS:
            close = difflib.get_close_matches(name, list(WORLDS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.fail(node.line, f"unknown world {name!r}{hint}; valid worlds: {', '.join(sorted(WORLDS))}")
        return name

    def options(self, node: Located) -> dict[str, Any]:
        self.mapping(node, "options")
        options = node.plain()
        try:
            make_config(self.world, options)
        except (ConfigError, ValueError) as e:
            bad = next((k for k in node.key_lines if k in str(e)), None)
            raise self.fail(node.key_lines.get(bad, node.line), str(e)) from None
        return options

    def start(self, node: Located) -> SeedStart | DatasetStart:
        self.mapping(node, "start")
        m = node.value
        if "dataset" in m:
            self.check_keys(node, DATASET_START_KEYS, "a dataset start")
            for key in DATASET_START_KEYS:
                if key not in m:
                    raise self.fail(node.line, f"a dataset start needs {key!r}: {{dataset: DIR, episode: N, frame: K}}")
            return DatasetStart(
                dataset=self.string(m["dataset"], "start dataset"),
                episode=self.integer(m["episode"], "start episode", 0),
                frame=self.integer(m["frame"], "start frame", 0),
            )
        self.check_keys(node, SEED_START_KEYS, "start (or give {dataset, episode, frame})")
        seed = self.integer(m["seed"], "start seed", 0) if "seed" in m else 0
        warmup = None
        if "warmup" in m and m["warmup"].value is not None:
            warmup = self.program(m["warmup"], "warmup", open_end=False)
        return SeedStart(seed=seed, warmup=warmup)

    def branches(self, m: dict[str, Located], horizon: int) -> tuple[Branch, ...]:
        out: list[Branch] = []
        if "program" in m:
            out.append(Branch(MAIN_BRANCH, self.program(m["program"], "program", horizon=horizon)))
        if "branches" in m:
            node = self.mapping(m["branches"], "branches")
            if not node.value:
                raise self.fail(node.line, "branches is empty; add at least one `name: program`")
            for name, value in node.value.items():
                line = node.key_lines[name]
                if not _NAME.match(name):
                    raise self.fail(line, f"branch name {name!r} must use only letters, digits, '_', '-' and '.'")
                if name == MAIN_BRANCH and "program" in m:
                    raise self.fail(line, f"branch {MAIN_BRANCH!r} is already `program`; rename this branch")
                out.append(Branch(name, self.program(value, f"branch {name!r}", horizon=horizon)))
        if not out:
            raise self.fail(1, "no action program: add `program:` or `branches:` (see docs/scenarios.md)")
        return tuple(out)

    # -- programs ------------------------------------------------------------------------------------

    def program(self, node: Located, what: str, open_end: bool = True, horizon: int | None = None) -> Program:
        if isinstance(node.value, str):  # `brake`: hold one action (to the horizon)
            items = [Located({"action": node}, node.line, {"action": node.line})]
        elif node.is_map:
            items = [node]
        elif node.is_list and node.value:
            items = node.value
        else:
            raise self.fail(
                node.line,
                f"{what} must be an action name, a segment {{action, frames}} / {{policy, frames}} or a list of "
                f"segments, got {_show(node)}",
            )
        segments = [
            self.segment(item, what, last=i == len(items) - 1, open_end=open_end) for i, item in enumerate(items)
        ]
        program = Program(tuple(segments))
        if horizon is not None and program.length is not None and program.length > horizon:
            raise self.fail(
                node.line,
                f"{what} lasts {program.length} frames, longer than horizon {horizon}; shorten it or raise horizon",
            )
        return program

    def segment(self, node: Located, what: str, last: bool, open_end: bool) -> Segment:
        self.mapping(node, f"a segment of {what}")
        self.check_keys(node, SEGMENT_KEYS, f"a segment of {what}")
        m = node.value
        if ("action" in m) == ("policy" in m):
            raise self.fail(node.line, f"a segment of {what} needs exactly one of 'action' or 'policy'")
        frames = None
        if "frames" in m:
            frames = self.integer(m["frames"], f"{what}: frames", 1)
        elif not (last and open_end):
            fix = "every warm-up segment needs" if not open_end else "only the last segment may leave out"
            raise self.fail(node.line, f"missing 'frames' in a segment of {what} ({fix} 'frames')")
        if "action" in m:
            if "params" in m:
                raise self.fail(node.key_lines["params"], "'params' belongs to a policy segment, not an action")
            return Segment(action=self.action(m["action"]), frames=frames)
        policy = self.policy_name(m["policy"])
        params = self.mapping(m["params"], "params").plain() if "params" in m else {}
        self.check_params(policy, params, m.get("params", m["policy"]))
        return Segment(policy=policy, params=params, frames=frames)

    def action(self, node: Located) -> str:
        names = self.schema.names
        if not isinstance(node.value, str):
            raise self.fail(node.line, f"action must be a name, one of {', '.join(names)}; got {_show(node)}")
        if node.value not in names:
            close = difflib.get_close_matches(node.value, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.fail(
                node.line, f"unknown action {node.value!r} for world {self.world!r}{hint}; valid: {', '.join(names)}"
            )
        return node.value

    def policy_name(self, node: Located) -> str:
        name = self.string(node, "policy")
        valid = available_policies(self.world)
        if name not in valid:
            close = difflib.get_close_matches(name, list(POLICIES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close and close[0] in valid else ""
            raise self.fail(
                node.line, f"unknown policy {name!r} for world {self.world!r}{hint}; valid: {', '.join(valid)}"
            )
        return name

    def check_params(self, policy: str, params: dict[str, Any], node: Located) -> None:
        """Build the policy once so a wrong or out-of-range parameter fails here, with its line."""
        try:
            make_policy(policy, self.world, **params)
        except TypeError as e:
            cls = type(make_policy(policy, self.world))
            valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
            bad = next((k for k in params if k not in valid), None)
            if bad is None:  # the names are right, a value has the wrong type
                raise self.fail(node.line, f"policy {policy!r}: {e}; check the parameter values") from None
            line = node.key_lines.get(bad, node.line)
            raise self.fail(line, f"policy {policy!r} has no parameter {bad!r}; valid: {', '.join(valid)}") from None
        except (ValueError, Error) as e:
            raise self.fail(node.line, f"policy {policy!r}: {e}") from None


def _show(node: Located) -> str:
    value = node.plain()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
