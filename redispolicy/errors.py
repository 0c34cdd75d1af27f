"""Run-stopping errors. Input problems are Diagnostics; these end a command.

Every message ends with the next step the user can take (``hint``), and the CLI's
single error boundary in ``main.py`` turns them into one clean line and an exit code.
"""

from __future__ import annotations


class RedispolicyError(Exception):
    """A problem that stops the command; ``exit_code`` follows docs/cli.md."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class UsageError(RedispolicyError):
    """Wrong flags or arguments: exit 64 (EX_USAGE), never 2 (2 means 'changes')."""

    exit_code = 64


class PolicyError(RedispolicyError):
    """The policy could not be turned into an effective policy (e.g. unknown environment)."""


class InsecureConnectionWarning(UserWarning):
    """A connection the policy allows to go unverified (``target.tls.verify: false``).

    Raised with ``warnings.warn`` where the connection is made (stages never print);
    ``main.run`` shows each such warning once per run on stderr, before the result, so a
    run that connects without verification always says so.
    """
