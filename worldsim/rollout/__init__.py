"""Driving-scenario rollouts: scripted situations asked of a world model, many times, next to the real simulator.

>>> from worldsim.rollout import SuiteOptions, find_scenarios, run_suite       # doctest: +SKIP
>>> outcomes = run_suite(find_scenarios(["carracing_curve_right"]), SuiteOptions(out="out/r"))  # doctest: +SKIP

Modules: :mod:`~worldsim.rollout.scenario` (file format and validation), :mod:`~worldsim.rollout.programs`
(action programs), :mod:`~worldsim.rollout.real` (the real simulator's side), :mod:`~worldsim.rollout.runner`
(batched model rollouts), :mod:`~worldsim.rollout.report` (video, contact sheet, plot, JSON),
:mod:`~worldsim.rollout.index` (``index.html``) and :mod:`~worldsim.rollout.suite` (many scenarios, skip/force).
"""

from worldsim.rollout.programs import Program, Segment
from worldsim.rollout.runner import RunOptions, ScenarioRun, run_scenario
from worldsim.rollout.scenario import Branch, DatasetStart, Scenario, SeedStart, load_scenario
from worldsim.rollout.suite import Outcome, SuiteOptions, find_scenarios, run_suite, shipped_scenarios

__all__ = [
    "Branch",
    "DatasetStart",
    "Outcome",
    "Program",
    "RunOptions",
    "Scenario",
    "ScenarioRun",
    "Segment",
    "SeedStart",
    "SuiteOptions",
    "find_scenarios",
    "load_scenario",
    "run_scenario",
    "run_suite",
    "shipped_scenarios",
]
