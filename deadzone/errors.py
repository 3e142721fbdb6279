"""One error hierarchy for deadzone.

Every error the package raises on purpose derives from :class:`DeadzoneError`;
specific errors also derive from the matching builtin so callers can catch
either (the pattern of ``rasterio.errors``).
"""

from __future__ import annotations

__all__ = [
    "DeadzoneError",
    "DataLoadError",
    "SchemaError",
    "CRSError",
    "ParameterError",
    "OutputExistsError",
    "DeadzoneWarning",
    "warning_text",
]


class DeadzoneError(Exception):
    """Root of every error raised by deadzone."""


class DataLoadError(DeadzoneError, OSError):
    """A file could not be read or holds no usable data."""


class SchemaError(DeadzoneError, ValueError):
    """A table lacks a required column or holds a bad value in a row.

    Messages name the file, the row (or feature id) and the field.
    """


class CRSError(DeadzoneError, ValueError):
    """A coordinate reference system is missing or unusable."""


class ParameterError(DeadzoneError, ValueError):
    """An option or physical parameter is out of its allowed range."""


class OutputExistsError(DeadzoneError, FileExistsError):
    """An output would be overwritten and ``overwrite`` was not given."""


class DeadzoneWarning(UserWarning):
    """A recoverable input problem that deadzone fixed and counted."""


def warning_text(message: object, category: type[Warning]) -> str | None:
    """A warning as deadzone prints it: one line, the category named unless it
    is a :class:`DeadzoneWarning`; None for the deprecation and runtime
    warnings of dependencies, which are not shown.  The command line and the
    batch workers print it after ``warning: ``."""
    if issubclass(category, (DeprecationWarning, FutureWarning, RuntimeWarning)):
        return None
    text = " ".join(str(message).split())
    return text if issubclass(category, DeadzoneWarning) else f"{category.__name__}: {text}"
