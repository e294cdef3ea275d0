import doctest
import importlib

import pytest

# Every module whose docstrings hold runnable examples (tests/test_doctests.py fails on a module with none).
MODULES = ["worldsim.sources", "worldsim.sources.base", "worldsim.codec", "worldsim.codec.autoencoder",
           "worldsim.metrics", "worldsim.sampling.config", "worldsim.sampling.simulator", "worldsim.envs.learned",
           "worldsim.envs.vector", "worldsim.envs.real", "worldsim.safe_yaml"]  # fmt: skip


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module} has no examples to run"
    assert result.failed == 0
