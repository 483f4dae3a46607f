"""The exceptions users see as one line, exit code 2: bad input (``InputError``) and a training task that could
not be completed (``TaskFailed``)."""


class InputError(ValueError):
    """Bad user input: the message names the field or value and fits on one line."""


class TaskFailed(RuntimeError):
    """A training task that could not be completed (e.g. it killed every worker that ran it): the message names
    the task and fits on one line; the CLI prints it like bad input, exit code 2 (no verdict)."""
