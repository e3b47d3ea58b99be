"""The one user-facing error type.

Anything a user can get wrong (a path, a value, a file's contents) raises `GankitError` with one
line that names the thing and the problem; the CLI prints it and exits
with code 2, without a traceback.
"""


class GankitError(Exception):
    """A problem with the user's input, reported as one line (the CLI exits with code 2)."""
