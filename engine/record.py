"""Value classes without `dataclasses`.

`@dataclass` writes a class's `__init__`, `__eq__`, `__repr__` (and for
frozen ones `__hash__`, `__setattr__`, `__delattr__`) as Python source and
compiles it when the class is defined: ~3 M instructions a class. A cold
`fgtui pp` defines six on its path, which with the module's import is ~4%
of its run. A class here writes its own `__init__` and declares `_fields`
(compared, hashed, in this order) and `_shown` (in the repr, when not all
of them); `Record` and `FrozenRecord` give it the rest as `@dataclass` and
`@dataclass(frozen=True)` did.
"""

from __future__ import annotations

_IN_REPR: set[tuple[int, int]] = set()  # (object, thread) reprs under way: a cycle shows as "..."


class Record:
    """Equality over `_fields` (same class only), a dataclass-style repr; unhashable."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _shown: tuple[str, ...] | None = None

    def _values(self) -> tuple:
        return tuple([getattr(self, name) for name in self._fields])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value, as a dataclass

    def __repr__(self) -> str:
        import threading  # imported by Jinja already; a repr is rare

        key = (id(self), threading.get_ident())
        if key in _IN_REPR:
            return "..."
        _IN_REPR.add(key)
        try:
            shown = self._fields if self._shown is None else self._shown
            inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
            return f"{type(self).__qualname__}({inner})"
        finally:
            _IN_REPR.discard(key)


class FrozenRecord(Record):
    """A Record that refuses assignment and hashes its `_fields`. `__init__` sets fields
    with `_set`; copy and pickle restore the instance dict without assigning."""

    __slots__ = ()

    def _set(self, **values: object) -> None:
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:
        return hash(self._values())
