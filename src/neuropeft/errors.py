"""User-facing errors: one clear line naming the file or subject and the fix."""


class NeuropeftError(Exception):
    """An error caused by the user's input or configuration.

    The command-line interface prints ``str(error)`` on one line and exits with status 1,
    without a traceback.
    """
