"""Checks of constructor arguments, with errors that name the argument and the values it takes.

Settings often arrive from JSON or a command line, where ``"2.0"`` or ``"false"`` are easy to
write; Python's ``float()`` and ``bool()`` would turn them into a number or into True silently.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

__all__ = ["flag", "positive_integer", "real"]


def real(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """Return ``value`` as a finite float, or raise naming ``name``.

    Raises:
        TypeError: If ``value`` is not a real number or a one-element tensor (bool and str
            included).
        ValueError: If it is not finite, not positive when ``positive`` is set, or outside
            ``[minimum, maximum]``.
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype.is_complex:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a number such as 1.0, got {value!r} ({type(value).__name__})"
        )
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and number <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}, got {value!r}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be at most {maximum:g}, got {value!r}")
    return number


def flag(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (or the integers 0 and 1), else raise naming ``name``.

    Raises:
        TypeError: If ``value`` is anything else, for example the string ``"false"``.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be true or false, got {value!r} ({type(value).__name__})")


def positive_integer(name: str, value: Any) -> int:
    """Return ``value`` if it is an int of at least 1 (bool excluded), else raise naming ``name``.

    Raises:
        ValueError: If ``value`` is not such an int.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value
