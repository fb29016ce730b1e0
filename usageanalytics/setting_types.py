"""How a setting's declared type is read from text and checked as an argument.

``Settings`` declares each setting once, with a type annotation. :func:`kind_for` turns that
annotation into a :class:`Kind` that parses the text of ``USAGEANALYTICS_<NAME>`` (or a string in
a framework's config) into a value of that type, and checks a value passed to ``configure()``.
So a field added to ``Settings`` is readable from the environment, typed, with no other change.

Text forms: ``bool`` 1/0, true/false, yes/no, on/off; ``int`` and ``float`` as Python writes
them; ``str`` as is; ``Path`` with ``~`` expanded; ``Literal`` and ``Enum`` one of their values
(case-insensitive); a callable as ``module:attr`` or ``module.attr``; a list, tuple or set as
comma-separated items or a JSON array; a mapping as a JSON object; a union tries its members in
order (None left out: an empty variable means "not set").
"""

from __future__ import annotations

import collections.abc
import enum
import importlib
import json
import os
import re
import sys
import types
import typing
from pathlib import Path, PurePath
from typing import Any, Literal, Union

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class Kind:
    """One type of setting: how it reads from text, what an argument of it must be."""

    #: what a valid argument is, for messages ("True or False", "a number", ...)
    expected = "any value"
    #: how to write it as text, for messages
    spelled = "text"
    #: the same in a word or two, for the table in ``usageanalytics run --help``
    short = "text"

    def parse(self, text: str) -> Any:
        """The value ``text`` stands for; ValueError when it stands for none."""
        return text

    def check(self, value: Any) -> Any:
        """``value`` as the setting holds it; ValueError when it is not one."""
        return value

    def _wrong(self, value: Any) -> ValueError:
        return ValueError(f"must be {self.expected}, got {_show(value)}")


class AnyKind(Kind):
    """``Any`` or ``object``: the text itself, any argument."""


class BoolKind(Kind):
    expected = "True or False"
    spelled = "1/0, true/false, yes/no, on/off"
    short = "true/false"

    def parse(self, text: str) -> bool:
        lowered = text.strip().lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        raise ValueError(f"must be one of {self.spelled}")

    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self._wrong(value)
        return value


class IntKind(Kind):
    expected = "an integer"
    spelled = "an integer"
    short = "integer"

    def parse(self, text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("must be an integer") from None

    def check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(value)
        return value


class FloatKind(Kind):
    expected = "a number"
    spelled = "a number"
    short = "number"

    def parse(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("must be a number") from None

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._wrong(value)
        return value


class TextKind(Kind):
    expected = "a string"
    spelled = "text"

    def parse(self, text: str) -> str:
        return text

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self._wrong(value)
        return value


class PathKind(Kind):
    expected = "a path (str or os.PathLike)"
    spelled = "a path"
    short = "path"

    def parse(self, text: str) -> Path:
        return Path(text).expanduser()

    def check(self, value: Any) -> Path:
        if isinstance(value, Path):
            return value.expanduser()
        if isinstance(value, (str, os.PathLike)) and os.fspath(value):
            return Path(value).expanduser()
        raise self._wrong(value)


class ChoiceKind(Kind):
    """``Literal["a", "b"]``: one of the listed values; text matches case-insensitively."""

    def __init__(self, choices: tuple[Any, ...]) -> None:
        self.choices = choices
        self.expected = "one of " + ", ".join(repr(c) for c in choices)
        self.spelled = self.short = "|".join(str(c) for c in choices)

    def parse(self, text: str) -> Any:
        for choice in self.choices:
            if str(choice).lower() == text.strip().lower():
                return choice
        raise ValueError(f"must be {self.expected}")

    def check(self, value: Any) -> Any:
        for choice in self.choices:
            if type(value) is type(choice) and value == choice:
                return choice
            if isinstance(value, str) and isinstance(choice, str) and value.lower() == choice.lower():
                return choice
        raise self._wrong(value)


class EnumKind(Kind):
    """An ``Enum`` member, given as the member, its value or its name."""

    def __init__(self, enum_type: type[enum.Enum]) -> None:
        self.enum_type = enum_type
        self.members = list(enum_type)
        self.expected = f"a {enum_type.__name__}: " + ", ".join(repr(m.value) for m in self.members)
        self.spelled = self.short = "|".join(str(m.value) for m in self.members)

    def parse(self, text: str) -> enum.Enum:
        lowered = text.strip().lower()
        for member in self.members:
            if lowered in (str(member.value).lower(), member.name.lower()):
                return member
        raise ValueError(f"must be {self.expected}")

    def check(self, value: Any) -> enum.Enum:
        if isinstance(value, self.enum_type):
            return value
        try:
            return self.enum_type(value)
        except ValueError:
            pass
        if isinstance(value, str):
            return self.parse(value)
        raise self._wrong(value)


class CallableKind(Kind):
    """A function, or the dotted path of one (``module:attr`` or ``module.attr``)."""

    expected = "a callable, or the 'module:attr' path of one"
    spelled = "module:attr"
    short = "module:attr"

    def parse(self, text: str) -> Any:
        return import_object(text.strip())

    def check(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.parse(value)
        if not callable(value):
            raise self._wrong(value)
        return value


class SequenceKind(Kind):
    """A list, tuple or set of one kind: text is ``a,b,c`` or a JSON array."""

    def __init__(self, item: Kind, container: type) -> None:
        self.item, self.container = item, container
        self.expected = f"a {container.__name__} of {_plural(item.expected)}"
        self.spelled = "comma-separated " + _plural(item.spelled)
        self.short = "comma-separated " + _plural(item.short)

    def parse(self, text: str) -> Any:
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                items = json.loads(stripped)
            except ValueError as error:
                raise ValueError(f"is not a JSON array: {error}") from None
            return self.check(items)
        parts = [part.strip() for part in stripped.split(",") if part.strip()]
        return self.container(self.item.parse(part) for part in parts)

    def check(self, value: Any) -> Any:
        if isinstance(value, (str, bytes)) or not isinstance(value, collections.abc.Iterable):
            raise self._wrong(value)
        return self.container(self.item.check(item) for item in value)


class MappingKind(Kind):
    expected = "a mapping"
    spelled = "a JSON object"
    short = "JSON object"

    def parse(self, text: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except ValueError as error:
            raise ValueError(f"is not a JSON object: {error}") from None
        return self.check(value)

    def check(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, collections.abc.Mapping):
            raise self._wrong(value)
        return dict(value)


class UnionKind(Kind):
    """``A | B``: the first member that accepts the text or the value."""

    def __init__(self, members: list[Kind]) -> None:
        self.members = members
        self.expected = " or ".join(m.expected for m in members)
        self.spelled = " or ".join(m.spelled for m in members)
        self.short = " or ".join(m.short for m in members)

    def parse(self, text: str) -> Any:
        for member in self.members:
            try:
                return member.parse(text)
            except ValueError:
                continue
        raise ValueError(f"must be {self.spelled}")

    def check(self, value: Any) -> Any:
        for member in self.members:
            try:
                return member.check(value)
            except ValueError:
                continue
        raise self._wrong(value)


class UnsupportedKind(Kind):
    """A type this module cannot read from text: settable only as an argument."""

    def __init__(self, annotation: Any) -> None:
        self.annotation = annotation
        self.spelled = f"(not settable from text: {annotation})"
        self.short = "not settable from text"

    def parse(self, text: str) -> Any:
        raise ValueError(f"cannot be read from text (its type is {self.annotation}); pass it to configure()")


def kind_for(annotation: Any) -> Kind:
    """The :class:`Kind` for a resolved type annotation."""
    if annotation is Any or annotation is object:
        return AnyKind()
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        members = [kind_for(a) for a in typing.get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else UnionKind(members)
    if origin is Literal:
        return ChoiceKind(typing.get_args(annotation))
    if annotation is collections.abc.Callable or origin is collections.abc.Callable:
        return CallableKind()
    if origin in (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set):
        args = typing.get_args(annotation)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return UnsupportedKind(annotation)
        container = {collections.abc.Sequence: tuple, collections.abc.Set: frozenset}.get(origin, origin)
        return SequenceKind(kind_for(args[0]) if args else AnyKind(), container)
    if origin in (dict, collections.abc.Mapping) or annotation in (dict, collections.abc.Mapping):
        return MappingKind()
    if annotation is bool:  # before int: bool is an int
        return BoolKind()
    if annotation is int:
        return IntKind()
    if annotation is float:
        return FloatKind()
    if annotation is str:
        return TextKind()
    if annotation is os.PathLike or origin is os.PathLike:
        return PathKind()
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return EnumKind(annotation)
        if issubclass(annotation, PurePath):
            return PathKind()
        if getattr(annotation, "_is_protocol", False) and "__call__" in annotation.__dict__:
            return CallableKind()
    return UnsupportedKind(annotation)


def field_annotations(cls: type, namespace: dict[str, Any]) -> dict[str, Any]:
    """Each field's resolved annotation; one that cannot be resolved stays its string."""
    try:
        return typing.get_type_hints(cls, namespace)
    except Exception:  # one unresolvable annotation must not hide the others
        pass
    resolved: dict[str, Any] = {}
    for name, annotation in cls.__annotations__.items():
        try:
            resolved[name] = eval(annotation, namespace) if isinstance(annotation, str) else annotation
        except Exception:
            resolved[name] = annotation
    return resolved


def import_object(path: str) -> Any:
    """The object a ``module:attr`` or ``module.attr`` path names; ValueError saying why not.

    A module that is still being imported (the one whose import triggered the SDK's set-up, say)
    is refused with a message, since its attribute may not exist yet.
    """
    module_name, colon, attribute = path.partition(":")
    if not colon:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not _DOTTED.fullmatch(module_name) or not _DOTTED.fullmatch(attribute):
        raise ValueError(f"{path!r} is not a 'module:attr' or 'module.attr' path")
    loaded = sys.modules.get(module_name)
    if loaded is not None and getattr(getattr(loaded, "__spec__", None), "_initializing", False):
        raise ValueError(
            f"module {module_name!r} is still being imported when the SDK is set up; "
            "put the function in a module of its own"
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ValueError(f"cannot import {module_name!r}: {error}") from None
    except Exception as error:
        raise ValueError(f"importing {module_name!r} failed: {type(error).__name__}: {error}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{path!r}: {module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise ValueError(f"{path!r} names {type(target).__name__} {_show(target)}, which is not callable")
    return target


def _plural(noun: str) -> str:
    noun = noun.removeprefix("an ").removeprefix("a ")
    return noun if noun.endswith("s") else noun + "s"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
