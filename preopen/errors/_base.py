"""The base of every preopen error, and the errors of arguments and settings refused.

A refused value names the key or argument, the value and what would have
been accepted.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArgumentTypeError",
    "ArgumentValueError",
    "MissingExtraError",
    "PreopenError",
    "SettingsError",
]


class PreopenError(Exception):
    """Base class of every error preopen raises."""


class SettingsError(PreopenError, ValueError):
    """A setting has a value that is not accepted.

    Attributes:
        key: the setting's name.
        value: the value that was refused.
        accepted: what would have been accepted, in words.
    """

    def __init__(self, key: str, value: Any, accepted: str, *, source: str = "") -> None:  # noqa: ANN401 - any value can be refused
        self.key = key
        self.value = value
        self.accepted = accepted
        self.source = source
        where = f" (from {source})" if source else ""
        super().__init__(f"{key}={value!r}{where} is not accepted: {accepted}")


class _RefusedArgumentError(PreopenError):
    """An argument a preopen call does not take: its name, value and what is accepted."""

    def __init__(self, name: str, value: Any, accepted: str) -> None:  # noqa: ANN401 - any value can be refused
        self.name = name
        self.value = value
        self.accepted = accepted
        super().__init__(f"{name}={value!r} is not accepted: {accepted}")


class ArgumentTypeError(_RefusedArgumentError, TypeError):
    """An argument of a type a preopen call does not take (``calendar="XNYS"``).

    Attributes:
        name: the argument.
        value: the value given.
        accepted: what is accepted, in words.
    """


class ArgumentValueError(_RefusedArgumentError, ValueError):
    """An argument of the right type with a value a preopen call does not take.

    Attributes:
        name: the argument.
        value: the value given.
        accepted: what is accepted, in words.
    """


class MissingExtraError(PreopenError, ImportError):
    """A call needs an optional package that is not installed.

    Attributes:
        module: the module that could not be imported (``pyarrow``).
        extra: the preopen extra that installs it (``arrow``).
    """

    def __init__(self, module: str, extra: str, what: str = "") -> None:
        self.module = module
        self.extra = extra
        needs = f"{what} needs " if what else ""
        super().__init__(
            f"{needs}{module}, which is not installed: pip install 'preopen[{extra}]'",
            name=module,
        )
