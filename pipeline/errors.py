"""The one exception type a user sees: a clear sentence, no traceback."""


class PipelineError(Exception):
    """A problem the user can act on. The CLI prints the message and exits non-zero."""
