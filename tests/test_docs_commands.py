"""Every ``worldsim`` command the docs and the help texts show still works.

Each example must parse (no flag, subcommand or config key that is gone), and every name in it must resolve: a
world, a shipped scenario, a policy, a file of this repository. Examples that need no dataset or trained run
(listing worlds and scenarios, the headless drive of the shipped world) are run for real, with their budgets
cut; the ones that need a dataset or a run of the user's are what the rest of the suite runs on tiny inputs.
"""

import argparse
import re
import shlex
from pathlib import Path

import pytest

from worldsim.assets import shipped_worlds
from worldsim.cli import build_parser, main, parse
from worldsim.policies.base import POLICIES
from worldsim.rollout.suite import shipped_scenarios
from worldsim.sources import WORLDS

ROOT = Path(__file__).resolve().parents[1]


def _examples() -> list[tuple[str, str]]:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        in_block = False
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip().startswith("```"):
                in_block = not in_block
                continue
            text = line.strip().removeprefix("$ ")
            if in_block and text.startswith("worldsim ") and not re.match(r"worldsim [\w-]+:", text):  # not output
                found.append((f"{path.name}:{n}", text))
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in [("worldsim", build_parser()), *sub.choices.items()]:
        for line in (parser.epilog or "").splitlines():
            if line.strip().startswith("worldsim "):
                found.append((f"`worldsim {name} --help`", line.strip()))
    return found


def _argv(text: str) -> list[str]:
    text = re.split(r"\s#|\s{2,}", text, maxsplit=1)[0]  # drop trailing comments and descriptions
    text = text.replace("\\", " ")
    return [a for a in shlex.split(text)[1:] if a not in ("...", "|")]


EXAMPLES = _examples()


def test_the_docs_show_commands():
    assert len(EXAMPLES) > 40


@pytest.mark.parametrize(("where", "command"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_documented_command_parses(where, command):
    argv = _argv(command)
    try:
        _, args = parse(argv)
    except SystemExit as e:
        raise AssertionError(f"{where}: `{command}` does not parse") from e
    assert getattr(args, "func", None) or not argv or argv[0] in ("-h", "--help", "--version")


#: Paths in examples that stand for the user's own files and runs (created by earlier examples or by the user).
USER_PATHS = ("data/", "runs/", "out/", "my_", "run1", "my_run", "drive.", "video.", "compiled", "codec.yaml")


def _names(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``(kind, value)`` of every name an example passes that must exist."""
    out = []
    for key in ("world", "scenarios", "policy", "actions", "config", "keys", "sampling"):
        value = getattr(args, key, None)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and v:
                out.append((key, v))
    return out


def _resolves(kind: str, value: str) -> bool:
    if value.startswith(USER_PATHS) or "/" in value and value.split("/")[0] in ("data", "runs", "out"):
        return True
    if kind == "world":
        return value in WORLDS or value in shipped_worlds() or (ROOT / value).exists()
    if kind == "scenarios":
        return value in shipped_scenarios() or (ROOT / value).exists()
    if kind == "policy":  # a name, a mix (scripted=0.7,random=0.3) or an agent file
        names = [part.partition("=")[0] for part in value.split(",")]
        return all(n in POLICIES for n in names) or (ROOT / value).exists()
    if kind == "actions" and "," in value:  # `data import --actions noop,left`: action names, not a file
        return True
    return (ROOT / value).exists()


@pytest.mark.parametrize(("where", "command"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_documented_command_names_things_that_exist(where, command):
    _, args = parse(_argv(command))
    missing = [f"{kind} {value!r}" for kind, value in _names(args) if not _resolves(kind, value)]
    assert not missing, f"{where}: `{command}` names what does not exist: {', '.join(missing)}"


#: Examples that need no dataset or trained run, run for real (budgets cut to keep the suite fast).
RUNNABLE = {
    "worldsim worlds": [],
    "worldsim worlds --json": [],
    "worldsim rollout --list": [],
    "worldsim play --headless --actions docs/play-drive.txt --out drive.mp4": ["--steps", "1"],
}


@pytest.mark.parametrize("command", sorted(RUNNABLE))
def test_documented_command_runs(command, tmp_path, monkeypatch, capsys):
    assert any(_argv(c) == _argv(command) for _, c in EXAMPLES), f"`{command}` is no longer in the docs"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "play-drive.txt").write_text((ROOT / "docs" / "play-drive.txt").read_text())
    assert main([*_argv(command), *RUNNABLE[command]]) == 0
    if "--out" in command:
        assert (tmp_path / _argv(command)[_argv(command).index("--out") + 1]).stat().st_size > 1000
    else:
        assert capsys.readouterr().out.strip()


def test_the_broken_examples_of_the_issue_would_fail():
    """The check catches what it is for: an example naming a scenario that does not exist."""
    _, args = parse(_argv("worldsim rollout carracing_curve_left --out out/rollouts"))
    assert not all(_resolves(k, v) for k, v in _names(args))
