"""Record / FrozenRecord answer as the @dataclass classes they replace did."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from fgtui.engine.config.graph import CallNode
from fgtui.engine.record import FrozenRecord, Record


@dataclasses.dataclass(frozen=True)
class FrozenDataclass:
    spec: str
    args: tuple = ()
    file: str | None = dataclasses.field(default=None, compare=False, repr=False)


class Frozen(FrozenRecord):
    _fields = ("spec", "args")

    def __init__(self, spec: str, args: tuple = (), file: str | None = None) -> None:
        self._set(spec=spec, args=args, file=file)


@dataclasses.dataclass
class MutableDataclass:
    text: str
    items: list = dataclasses.field(default_factory=list)


class Mutable(Record):
    _fields = ("text", "items")

    def __init__(self, text: str, items: list | None = None) -> None:
        self.text = text
        self.items = [] if items is None else items


def test_frozen_record_compares_hashes_and_shows_as_a_frozen_dataclass():
    ours, theirs = Frozen("a:b", (1, 2), file="x.yaml"), FrozenDataclass("a:b", (1, 2), file="x.yaml")
    assert repr(ours).replace("Frozen(", "") == repr(theirs).replace("FrozenDataclass(", "")
    assert ours == Frozen("a:b", (1, 2), file="y.yaml") and hash(ours) == hash(Frozen("a:b", (1, 2)))
    assert hash(ours) == hash(theirs)  # both hash the tuple of compared fields
    assert ours != Frozen("a:c", (1, 2)) and ours != theirs  # another class is never equal
    with pytest.raises(AttributeError, match="cannot assign to field 'spec'"):
        ours.spec = "c:d"
    with pytest.raises(AttributeError):
        del ours.args
    for again in (copy.copy(ours), copy.deepcopy(ours), pickle.loads(pickle.dumps(ours))):
        assert again == ours and again.file == "x.yaml"


def test_record_is_mutable_unhashable_and_shows_a_cycle_as_dots():
    ours, theirs = Mutable("t"), MutableDataclass("t")
    ours.items.append(ours)
    theirs.items.append(theirs)
    assert repr(ours) == repr(theirs).replace("MutableDataclass(", "Mutable(")  # Mutable(text='t', items=[...])
    with pytest.raises(TypeError):
        hash(ours)
    assert Mutable("t", [1]) == Mutable("t", [1]) and Mutable("t", [1]) != Mutable("t", [2])


def test_call_node_repr_and_equality_leave_out_the_location():
    node = CallNode("singleton", "os:getcwd", (), {"a": 1}, "n", file="f.yaml", line=3)
    assert repr(node) == "CallNode(kind='singleton', spec='os:getcwd', args=(), kwargs={'a': 1}, name='n')"
    assert node == CallNode("singleton", "os:getcwd", kwargs={"a": 1}, name="n")
    assert CallNode("factory", "x:y").kwargs == {}
