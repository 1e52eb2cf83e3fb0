"""The project's own exception for errors a user can fix, and the CLI's exit codes."""

EXIT_USER_ERROR = 2  # bad option, missing or malformed file: nothing was done
EXIT_PARTIAL = 3  # a batch finished but some items failed (they are listed)


class BodyNetError(Exception):
    """An error meant for the user: the message names the file or option and says what to do.

    The CLI prints it as one line and exits with ``EXIT_USER_ERROR``; library callers can catch it.
    """
