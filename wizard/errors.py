"""Errors the user reads: what happened, and what to do about it."""

from __future__ import annotations


class WizardError(Exception):
    """An error with a message meant for the user, and a hint of what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class AnswerError(WizardError):
    """An answer that does not fit its question's type."""


class ConnectionFailed(WizardError):
    """The server could not be reached or refused us."""


class UnknownHostKey(WizardError):
    """The server's host key is not in known_hosts yet: the user must confirm it."""

    def __init__(self, host: str, key_type: str, fingerprint: str, key_line: str) -> None:
        super().__init__(
            f"The host key of {host} is not known yet: {key_type} {fingerprint}",
            "Compare it with the fingerprint your provider shows, then accept it.",
        )
        self.host = host
        self.key_type = key_type
        self.fingerprint = fingerprint
        self.key_line = key_line


class HostKeyChanged(WizardError):
    """The server presents a different key than known_hosts records: refuse."""


class ApplyFailed(WizardError):
    """A step's apply failed; the server was rolled back."""
