import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["envs", "envs.base", "worldsim.data.dataset"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
