"""User-facing errors.

`UserError` carries a one-line message that names the bad value and says how to fix it. Library
code raises it at the edges (config validation, dataset open, checkpoint load); the CLI turns it
into that one line on stderr and exit code 2, with no traceback.
"""


class UserError(ValueError):
    """Bad input from the user: the message names the value and the fix."""
