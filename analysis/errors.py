"""The error tree. Library code raises these; the CLI turns them into one-line messages."""


class AbortscopeError(Exception):
    """Base of every error abortscope raises on purpose."""


class CaptureFormatError(AbortscopeError):
    """The file is not a capture we can read (bad magic, broken header, no packets at all)."""


class BundleError(AbortscopeError):
    """A run bundle directory is missing files or has an unreadable meta.json."""


class EventParseError(AbortscopeError):
    """An event log (strace, tracefs, app log) could not be parsed at all."""


class ClockError(AbortscopeError):
    """A clock value or time zone that cannot place events on the timeline (a bad --tz, a bad clock offset)."""


class ExportError(AbortscopeError):
    """The timeline or a picture could not be written where asked (missing directory, no permission, disk full)."""
