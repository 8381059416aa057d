"""Errors the engine raises at its public boundary."""

from __future__ import annotations


class SpecError(ValueError):
    """Bad user input: names the offending field so the CLI and the UI can point at it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotApplicable(Exception):
    """A method cannot run in this setting; the reason is shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RunFailed(RuntimeError):
    """A job failed (diverged, crashed); recorded with its reason, other runs go on."""
