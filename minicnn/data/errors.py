"""The three ways loading a dataset can fail, each with its own exception class.

All three subclass a built-in exception, so ``except ValueError`` / ``except OSError`` keep
working; the message always names the file or folder, what was expected and what came.
"""


class DatasetFileError(ValueError):
    """A dataset file exists but is not what it should be: corrupt, truncated or the wrong kind."""


class DatasetNotFoundError(FileNotFoundError):
    """Dataset files are missing and downloading was not allowed (``download=False``)."""


class DownloadError(OSError):
    """No mirror delivered a file with the right checksum (no network, 404s, bad copies).

    ``attempts`` lists ``(url, what went wrong)`` for each mirror tried; it is empty when the
    problem was local (e.g. a folder that cannot be written).
    """

    def __init__(self, message: str, attempts: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.attempts = list(attempts or [])
