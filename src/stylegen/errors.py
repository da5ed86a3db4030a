"""User-facing errors and the CLI's exit codes.

`UserError` carries a one-line message that names the bad value and says how to fix it. Library
code raises it at the edges (config validation, dataset open, checkpoint load); the CLI turns it
into that one line on stderr and exit code 2, with no traceback. A run whose losses stay
non-finite is not the user's input at fault: `TrainingDivergedError` has exit code 3.
"""

EXIT_USER_ERROR = 2  # bad input: the message names the value and the fix
EXIT_DIVERGED = 3  # training stopped on non-finite losses; the last snapshot is intact
EXIT_SYSTEM_ERROR = 4  # the machine refused a file operation: disk full, permissions, ...
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM (128 + SIGINT, the shell's convention)


class UserError(ValueError):
    """Bad input from the user: the message names the value and the fix."""


class TrainingDivergedError(RuntimeError):
    """Losses stayed non-finite: the run stops, the last good snapshot is kept (exit code 3)."""
