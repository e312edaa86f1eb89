"""capsa.record behaves like dataclasses for what capsa uses (checked side by side)."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import pytest

from capsa import record as rec


def classes(record: Any, field: Any) -> tuple[type, type]:
    """The same two classes, made with ``record``/``field`` of capsa.record or of dataclasses."""

    @record
    class Mount:
        destination: str
        options: list[str] = field(default_factory=list)

    @record
    class Box:
        name: str
        size: int = 3
        mounts: list[Mount] = field(default_factory=list)
        labels: dict[str, str] = field(default_factory=dict)
        extra: tuple[int, ...] = ()

    return Mount, Box


Mount, Box = classes(rec.record, rec.field)
DMount, DBox = classes(dataclasses.dataclass, dataclasses.field)


@rec.record(frozen=True)
class Point:
    x: int
    y: int = 0


def test_construction_defaults_and_factories_match_dataclasses() -> None:
    for cls, mount in ((Box, Mount), (DBox, DMount)):
        a = cls("a")
        b = cls("b", 5, [mount("/m", ["ro"])], labels={"k": "v"})
        assert (a.name, a.size, a.mounts, a.labels, a.extra) == ("a", 3, [], {}, ())
        assert (b.size, b.mounts[0].options, b.labels) == (5, ["ro"], {"k": "v"})
        a.mounts.append(mount("/x"))
        assert cls("c").mounts == []  # each instance gets its own list
    assert Box.size == 3 and not hasattr(Box, "mounts")  # plain defaults stay class attributes


def test_every_field_by_keyword_builds_the_same_instance_as_dataclasses() -> None:
    """The fast path (all fields by keyword, in order: records read back from JSON) and the
    general one agree with dataclasses, frozen records included."""
    values = {"name": "n", "size": 1, "mounts": [], "labels": {"a": "b"}, "extra": (1,)}
    fast, general, theirs = Box(**values), Box(**dict(reversed(values.items()))), DBox(**values)
    assert vars(fast) == vars(general) == vars(theirs) and list(vars(fast)) == list(vars(theirs))
    assert fast == general and repr(fast) == repr(general)
    p = Point(**{"x": 1, "y": 2})
    assert p == Point(1, 2) and hash(p) == hash(Point(1, 2))
    with pytest.raises(rec.FrozenInstanceError):
        p.x = 3  # type: ignore[misc]


def test_repr_eq_hash_and_field_order() -> None:
    assert repr(Box("a")) == repr(DBox("a")) == "classes.<locals>.Box(name='a', size=3, mounts=[], labels={}, extra=())"
    assert Box("a") == Box("a") and Box("a") != Box("b") and Box("a") != DBox("a")
    assert [f.name for f in rec.fields(Box)] == [f.name for f in dataclasses.fields(DBox)]
    assert [f.name for f in rec.fields(Box("a"))] == ["name", "size", "mounts", "labels", "extra"]
    with pytest.raises(TypeError):
        hash(Box("a"))  # mutable and comparable: unhashable, as a dataclass
    assert hash(Point(1, 2)) == hash(Point(1, 2)) and len({Point(1), Point(1), Point(2)}) == 2


def test_frozen_records_refuse_assignment() -> None:
    p = Point(1)
    with pytest.raises(rec.FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.y  # type: ignore[misc]
    assert p == Point(1, 0)


def test_bad_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError, match="missing required argument"):
        Box()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        Box("a", colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        Box("a", name="b")  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional arguments"):
        Point(1, 2, 3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        @rec.record
        class Bad:
            a: int = 1
            b: int


def test_asdict_and_replace_match_dataclasses() -> None:
    ours = Box("a", 1, [Mount("/m", ["ro"])], {"k": "v"}, (1, 2))
    theirs = DBox("a", 1, [DMount("/m", ["ro"])], {"k": "v"}, (1, 2))
    assert rec.asdict(ours) == dataclasses.asdict(theirs)
    copy = rec.asdict(ours)
    copy["mounts"][0]["options"].append("x")
    assert ours.mounts[0].options == ["ro"]  # nested records and lists are copied
    assert rec.replace(ours, size=9) == Box("a", 9, [Mount("/m", ["ro"])], {"k": "v"}, (1, 2))
    assert rec.replace(Point(1), y=5) == Point(1, 5)
    with pytest.raises(TypeError):
        rec.asdict(Box)


def test_importing_capsa_records_does_not_import_dataclasses() -> None:
    code = ("import sys; import capsa.container.model, capsa.store.layers, capsa.config, capsa.engine.session; "
            "print(sorted(m for m in ('dataclasses', 'inspect') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
