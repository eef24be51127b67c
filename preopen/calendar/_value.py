"""A small base for immutable, slotted value classes.

The calendar's values (rules, specs) are plain slotted classes rather than
dataclasses: importing ``dataclasses`` (and through it ``inspect``) would
cost more than the rest of the calendar package, whose import is on a
tight budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, NoReturn, Self

__all__ = ["Value"]


def _hashable(value: object) -> object:
    if isinstance(value, Mapping):
        return frozenset(value.items())
    return value


class Value:
    """Immutable value: equality, hash and repr by the fields in ``_fields``.

    Subclasses declare ``__slots__`` and ``_fields`` and set their fields in
    ``__init__`` with :meth:`_set`; every later assignment is refused.
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def _set(self, **values: Any) -> None:  # noqa: ANN401 - any field type
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        """Refuse every change: values are immutable."""
        msg = f"{type(self).__name__} is immutable: cannot set {name!r}"
        raise AttributeError(msg)

    def __delattr__(self, name: str) -> NoReturn:
        """Refuse every change: values are immutable."""
        msg = f"{type(self).__name__} is immutable: cannot delete {name!r}"
        raise AttributeError(msg)

    def _key(self) -> tuple[object, ...]:
        return tuple(_hashable(getattr(self, name)) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        """Equal when of the same class with equal fields."""
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Value)  # noqa: S101 - narrows the type for mypy
        return self._key() == other._key()

    def __hash__(self) -> int:
        """Hash of the fields."""
        return hash(self._key())

    def __repr__(self) -> str:
        """The class and its fields."""
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle through ``__init__`` with the fields as keywords."""
        fields = {name: getattr(self, name) for name in self._fields}
        # A read-only mapping view cannot be pickled; __init__ takes a dict.
        plain = {k: dict(v) if isinstance(v, Mapping) else v for k, v in fields.items()}
        return (_rebuild, (type(self), plain))

    def replace(self, **changes: Any) -> Self:  # noqa: ANN401 - any field type
        """A copy with some fields changed (validated again)."""
        fields = {name: getattr(self, name) for name in self._fields}
        fields.update(changes)
        return type(self)(**fields)


def _rebuild(cls: type[Value], fields: dict[str, Any]) -> Value:
    return cls(**fields)
