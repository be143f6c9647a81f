"""Deprecation helpers: renamed parameters, positional arguments, changed defaults.

A public parameter renamed in painmarkers keeps its old spelling working for one
release (:data:`REMOVAL`): the old keyword is mapped to the new one with a
:class:`FutureWarning` naming both. Every rename is listed in ``docs/changelog.rst``.

Examples
--------
>>> import warnings
>>> @rename_parameters(group="between")
... def f(data, *, between="group"):
...     return between
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     f(None, group="arm")
'arm'
>>> print(caught[0].message)
The 'group' parameter of f() was renamed 'between' in painmarkers 0.2 and the old name \
will stop working in 0.3. Use between='arm'.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from painmarkers._warnings import user_stacklevel

__all__ = ["CHANGED", "REMOVAL", "SINCE", "deprecate_positional", "rename_parameters",
           "resolve_changed_default"]

#: Release in which the renames were made, and the one in which old names stop working.
SINCE = "0.2"
REMOVAL = "0.3"

F = TypeVar("F", bound=Callable[..., Any])


class _Changed:
    """Sentinel default of a parameter whose default changes (see resolve_changed_default)."""

    _instance: _Changed | None = None

    def __new__(cls) -> _Changed:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "'warn'"


#: Default of a parameter whose default value changes in this release.
CHANGED: Any = _Changed()


def _qualname(func: Callable) -> str:
    return getattr(func, "__qualname__", getattr(func, "__name__", "function"))


def rename_parameters(**renames: str) -> Callable[[F], F]:
    """Decorate a function whose keyword parameters were renamed ``old=new``.

    Passing an old name calls the function with the new name and emits a
    :class:`FutureWarning`; passing both is a :class:`TypeError`.

    Parameters
    ----------
    **renames : str
        ``old_name="new_name"`` pairs; each new name must be a parameter of the
        decorated function.

    Returns
    -------
    callable
        The decorator.
    """

    def decorate(func: F) -> F:
        params = inspect.signature(func).parameters
        for old, new in renames.items():
            if new not in params:
                raise TypeError(f"{_qualname(func)}() has no parameter {new!r} to rename "
                                f"{old!r} to.")

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{_qualname(func)}() got both {old!r} (its old name) and {new!r}; "
                            f"pass only {new}=.")
                    value = kwargs.pop(old)
                    warnings.warn(
                        f"The {old!r} parameter of {_qualname(func)}() was renamed {new!r} in "
                        f"painmarkers {SINCE} and the old name will stop working in {REMOVAL}. "
                        f"Use {new}={value!r}.", FutureWarning, stacklevel=user_stacklevel())
                    kwargs[new] = value
            return func(*args, **kwargs)

        wrapper.__painmarkers_renamed__ = {  # type: ignore[attr-defined]
            **getattr(func, "__painmarkers_renamed__", {}), **renames}
        return wrapper  # type: ignore[return-value]

    return decorate


def deprecate_positional(**old_order: int) -> Callable[[F], F]:
    """Accept, with a FutureWarning, arguments passed by position that are now keyword-only.

    Parameters
    ----------
    **old_order : int
        ``name=position`` of each now keyword-only parameter in the old signature
        (0 is the first argument).

    Returns
    -------
    callable
        The decorator. A call with more positional arguments than the new signature
        takes maps the extra ones to their names from ``old_order`` and warns.
    """
    by_position = {pos: name for name, pos in old_order.items()}

    def decorate(func: F) -> F:
        params = list(inspect.signature(func).parameters.values())
        n_positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                           for p in params)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if len(args) > n_positional:
                extra = args[n_positional:]
                names = []
                for i, value in enumerate(extra, start=n_positional):
                    if i not in by_position:
                        raise TypeError(f"{_qualname(func)}() takes {n_positional} positional "
                                        f"argument(s) but {len(args)} were given.")
                    name = by_position[i]
                    if name in kwargs:
                        raise TypeError(f"{_qualname(func)}() got multiple values for {name!r}.")
                    kwargs[name] = value
                    names.append(name)
                warnings.warn(
                    f"Passing {', '.join(names)} by position to {_qualname(func)}() is "
                    f"deprecated since painmarkers {SINCE} and will be an error in {REMOVAL}; "
                    f"pass {', '.join(f'{n}=...' for n in names)} by keyword.",
                    FutureWarning, stacklevel=user_stacklevel())
                args = args[:n_positional]
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def resolve_changed_default(value: Any, *, name: str, old: Any, new: Any, func: str) -> Any:
    """Return ``new`` (warning that the default changed) when ``value`` is :data:`CHANGED`.

    Parameters
    ----------
    value : object
        The value the caller passed (or :data:`CHANGED` when it passed nothing).
    name : str
        The parameter's name.
    old, new : object
        The previous and the current default.
    func : str
        Name of the public function, for the message.

    Returns
    -------
    object
        ``value`` itself when given, else ``new``.
    """
    if value is not CHANGED:
        return value
    warnings.warn(
        f"The default of {name!r} in {func}() changed from {old!r} to {new!r} in painmarkers "
        f"{SINCE}; pass {name}={new!r} (or {name}={old!r} for the old result) to silence this "
        "warning.", FutureWarning, stacklevel=user_stacklevel())
    return new
