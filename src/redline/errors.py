"""The exception tree.

Callers catch :class:`RedlineError`; the gateway turns the request errors into
the vendor's own error response and the CLI maps each class to an exit code.
Messages never carry event values or credentials.
"""

from __future__ import annotations

from collections.abc import Sequence


class RedlineError(Exception):
    """Base of every error Redline raises on purpose."""

    exit_code = 1


class ConfigError(RedlineError):
    """A configuration or policy file is wrong.

    The message names the file, the line and column where known, what is
    wrong, and how to fix it. A file with several problems raises one error
    that carries the others in ``more``; :attr:`errors` lists them all. The
    message joins the first :attr:`SHOWN` of them with ``; `` and counts
    the rest ("... and 12 more errors"), so a log line stays short.
    """

    exit_code = 2

    # errors named one by one in a message or a report; the rest are counted
    SHOWN = 50

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        fix: str | None = None,
        more: Sequence[ConfigError] = (),
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.fix = fix
        self.reason = message
        self.more = tuple(e for error in more for e in error.errors)
        super().__init__("; ".join(self.lines()))

    @classmethod
    def joined(cls, errors: Sequence[ConfigError]) -> ConfigError:
        """One error carrying all of ``errors`` (at least one), the first
        in front."""
        first, *rest = errors
        return cls(
            first.reason,
            path=first.path,
            line=first.line,
            column=first.column,
            fix=first.fix,
            more=rest,
        )

    @property
    def errors(self) -> tuple[ConfigError, ...]:
        """This error and the others found with it, in file order."""
        return (self, *self.more)

    def lines(self) -> list[str]:
        """The first :attr:`SHOWN` errors, one line each, and a last line
        counting the others, if any."""
        errors = self.errors
        lines = [error.render() for error in errors[: self.SHOWN]]
        rest = len(errors) - self.SHOWN
        if rest > 0:
            lines.append(f"... and {rest} more error{'s' if rest > 1 else ''}")
        return lines

    def render(self) -> str:
        """This one error (without the others in ``more``) as one line."""
        where = self.path or "<config>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.reason}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class ListenError(RedlineError):
    """The gateway cannot listen on its address (in use, not allowed, unknown)."""

    exit_code = 2


class RequestError(RedlineError):
    """A client request cannot be accepted as it is.

    ``status`` is the HTTP status the vendor would answer with; the message
    describes the problem in shape only (sizes, field names), never values.
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class PayloadTooLarge(RequestError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=413)


class Unauthorized(RequestError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=401)


class OutboxFull(RedlineError):
    """The outbox is at its limit; the client should retry later."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__("outbox is full")


class DeliveryError(RedlineError):
    """A destination refused or failed a batch.

    ``permanent`` errors send events to the dead-letter table; the others are
    retried with backoff, waiting at least ``retry_after`` seconds if given.
    ``too_large`` asks the forwarder to split the batch.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        too_large: bool = False,
        rejected: dict[int, str] | None = None,
    ) -> None:
        self.permanent = permanent
        self.retry_after = retry_after
        self.too_large = too_large
        # index within the batch -> reason, for partial rejections
        self.rejected = rejected or {}
        super().__init__(message)
