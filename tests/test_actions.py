import re

import pytest

from worldsim.actions import Action, ActionSchema
from worldsim.errors import InvalidAction

SCHEMA = ActionSchema("w", 1, (Action("noop"), Action("left", (("left",), ("a",))), Action("go", (("up", "left"),))))


def test_round_trip_preserves_everything():
    back = ActionSchema.from_json(SCHEMA.to_json())
    assert back == SCHEMA
    assert back.fingerprint == SCHEMA.fingerprint
    assert back.actions[2].keys == (("up", "left"),)


def test_fingerprint_changes_with_names_order_and_version():
    renamed = ActionSchema("w", 1, (Action("noop"), Action("right"), Action("go")))
    reordered = ActionSchema("w", 1, (Action("left"), Action("noop"), Action("go")))
    bumped = ActionSchema("w", 2, SCHEMA.actions)
    prints = {s.fingerprint for s in (SCHEMA, renamed, reordered, bumped)}
    assert len(prints) == 4


def test_tampered_fingerprint_is_rejected():
    d = SCHEMA.to_dict()
    d["actions"][1]["name"] = "right"
    with pytest.raises(ValueError, match="fingerprint mismatch"):
        ActionSchema.from_dict(d)


def test_index_accepts_ids_and_names():
    assert SCHEMA.index("left") == 1
    assert SCHEMA.index(2) == 2
    assert SCHEMA.index("2") == 2


def test_bad_actions_name_valid_choices():
    with pytest.raises(InvalidAction, match=re.escape("valid ids are 0..2 (0=noop, 1=left, 2=go)")):
        SCHEMA.index(3)
    with pytest.raises(InvalidAction, match="Did you mean 'left'"):
        SCHEMA.index("lfet")
    with pytest.raises(InvalidAction):
        SCHEMA.index(1.5)


def test_duplicate_names_rejected():
    with pytest.raises(ValueError, match="more than once"):
        ActionSchema("w", 1, (Action("a"), Action("a")))
