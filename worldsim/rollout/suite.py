"""Many scenarios into one output directory: run each, skip finished ones, rebuild the index page.

A failure in one scenario never stops the others.

A scenario counts as finished when ``OUT/<name>/report.json`` says ``ok`` for the same scenario, run options
and model file (its ``key``); ``force`` runs it again anyway. Failed scenarios get a ``report.json`` with the
error (and the real simulator's half when it could be made), so they show up on the index page and run
again next time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from worldsim.assets import assets_dir
from worldsim.errors import ConfigError, Error, unknown_name
from worldsim.rollout.index import write_index
from worldsim.rollout.report import REPORT_FORMAT, REPORT_JSON, json_safe, write_report, write_scenario
from worldsim.rollout.runner import RunOptions, resolve_model, run_scenario
from worldsim.rollout.scenario import Scenario, load_scenario
from worldsim.sources.base import world_class

log = logging.getLogger(__name__)

SCENARIO_SUFFIXES = (".yaml", ".yml")
#: Sub-directory of the output directory where exported backend programs (ONNX, TensorRT) are kept.
COMPILED_DIR = ".compiled"


def scenarios_dir() -> Path:
    """Where the shipped scenarios live (``assets/scenarios``)."""
    return assets_dir() / "scenarios"


def shipped_scenarios() -> dict[str, Path]:
    """Shipped scenario name -> file."""
    root = scenarios_dir()
    if not root.is_dir():
        return {}
    return {p.stem: p for p in sorted(root.iterdir()) if p.suffix in SCENARIO_SUFFIXES}


def find_scenarios(specs: Sequence[str]) -> list[Path]:
    """Scenario files from files, directories (every ``*.yaml`` in them) and shipped scenario names.

    Raises:
        ConfigError: a path that does not exist, or a directory with no scenario.
        UnknownNameError: a name that is neither a file nor a shipped scenario ("did you mean").
    """
    out: list[Path] = []
    shipped = shipped_scenarios()
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in SCENARIO_SUFFIXES)
            if not found:
                raise ConfigError(f"{path}: no scenario files (*.yaml) in this directory")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        elif spec in shipped:
            out.append(shipped[spec])
        elif path.suffix in SCENARIO_SUFFIXES or "/" in spec:
            raise ConfigError(f"{path}: scenario file not found")
        else:
            raise unknown_name("scenario", spec, shipped or ["(none shipped: pass a file)"])
    return list(dict.fromkeys(out))  # the same file twice runs once


@dataclass(frozen=True)
class SuiteOptions:
    """Settings of a run over many scenarios.

    Attributes:
        out: Output directory (one sub-directory per scenario, plus ``index.html``).
        force: Run scenarios again even when their outputs are complete.
        progress: Show a progress bar over scenarios.
        run: How each scenario is run.
    """

    out: str = "out/rollouts"
    force: bool = False
    progress: bool = True
    run: RunOptions = field(default_factory=RunOptions)


@dataclass
class Outcome:
    """What happened to one scenario.

    Attributes:
        name: Scenario (output directory) name.
        file: Scenario file.
        status: ``ok``, ``failed`` or ``skipped`` (complete from an earlier run).
        error: One line saying why it failed.
        report: The scenario's ``report.json`` content (also for skipped ones), when there is one.
    """

    name: str
    file: str
    status: str
    error: str | None = None
    report: dict[str, Any] = field(default_factory=dict)


def run_suite(files: Sequence[str | Path], options: SuiteOptions | None = None) -> list[Outcome]:
    """Run every scenario file into ``options.out``; see the module docstring."""
    options = options or SuiteOptions()
    out = Path(options.out)
    if options.run.cache_dir is None:  # exported graphs are keyed by weights and shape: share them across scenarios
        options = replace(options, run=replace(options.run, cache_dir=str(out / COMPILED_DIR)))
    outcomes: list[Outcome] = []
    parsed: list[Scenario] = []
    for f in files:
        try:
            scenario = load_scenario(f)
        except Error as e:
            outcomes.append(_fail(out / Path(f).stem, str(f), str(e)))
            continue
        if any(s.name == scenario.name for s in parsed):
            first = next(s for s in parsed if s.name == scenario.name)
            msg = f"{f}: scenario name {scenario.name!r} is also used by {first.path}; set a different `name:`"
            outcomes.append(Outcome(scenario.name, str(f), "failed", msg))
            log.error("%s", msg)
            continue
        parsed.append(scenario)
    bar = tqdm(parsed, desc="scenarios", unit="scenario", disable=not options.progress)
    for i, scenario in enumerate(bar, 1):
        bar.set_postfix_str(scenario.name)
        if not options.progress:  # without bars, one line per scenario so a long run is never silent
            log.info("scenario %d/%d: %s ...", i, len(parsed), scenario.name)
        t0 = time.perf_counter()
        outcomes.append(_run_one(scenario, out / scenario.name, options))
        if not options.progress:
            log.info("scenario %d/%d: %s %s in %.1f s", i, len(parsed), scenario.name, outcomes[-1].status,
                     time.perf_counter() - t0)  # fmt: skip
    write_index(out)
    return outcomes


def _run_one(scenario: Scenario, out_dir: Path, options: SuiteOptions) -> Outcome:
    key = completion_key(scenario, options.run)
    previous = _previous(out_dir, key)
    if previous is not None and not options.force:
        log.info("%s: complete in %s (use --force to run it again)", scenario.name, out_dir)
        return Outcome(scenario.name, scenario.path, "skipped", report=previous)
    t0 = time.perf_counter()
    try:
        run = run_scenario(scenario, options.run)
        fps = run.model_info.get("fps") or world_class(scenario.world).fps
        report = write_scenario(run, out_dir, fps, {"key": key, "elapsed_s": time.perf_counter() - t0})
    except Error as e:
        return _fail(out_dir, scenario.path, str(e), scenario)
    except Exception as e:  # a bug or a simulator crash in one scenario must not lose the others
        log.debug("%s failed", scenario.name, exc_info=True)
        return _fail(out_dir, scenario.path, f"{type(e).__name__}: {e} (run with -v for the traceback)", scenario)
    if run.error:
        log.error("%s: %s", scenario.name, run.error)
        return Outcome(scenario.name, scenario.path, "failed", run.error, report)
    return Outcome(scenario.name, scenario.path, "ok", report=report)


def _fail(out_dir: Path, file: str, error: str, scenario: Scenario | None = None) -> Outcome:
    """Record a failed scenario in ``out_dir/report.json`` (it shows on the index page, and runs again)."""
    log.error("%s", error)
    report = {
        "format": REPORT_FORMAT,
        "status": "failed",
        "error": error,
        "scenario": scenario.to_json() if scenario is not None else {"name": out_dir.name, "file": str(file)},
        "branches": [],
        "files": {},
    }
    write_report(out_dir, report)
    return Outcome(out_dir.name, str(file), "failed", error, json_safe(report))


def completion_key(scenario: Scenario, run: RunOptions) -> str:
    """Hash of what decides a scenario's outputs: the scenario, sampling/samples overrides and the model file."""
    try:
        model = resolve_model(scenario).world
        stat = model.stat()
        model_id: Any = [str(model.resolve()), stat.st_size, stat.st_mtime_ns]
    except Error:
        model_id = None
    payload = {"scenario": scenario.to_json(), "sampling": run.sampling, "samples": run.samples, "model": model_id}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _previous(out_dir: Path, key: str) -> dict[str, Any] | None:
    """The earlier report when it is complete for ``key`` (all its files present), else ``None``."""
    try:
        report = json.loads((out_dir / REPORT_JSON).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if report.get("status") != "ok" or report.get("key") != key:
        return None
    if not all((out_dir / name).is_file() for name in report.get("files", {}).values()):
        return None
    return report
