"""The servers' error: raised when a server cannot be built, started or made ready."""

from analysis.errors import AbortscopeError


class ServerError(AbortscopeError):
    """A server could not be built, started, or did not listen in time."""
