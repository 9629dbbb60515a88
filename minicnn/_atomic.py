"""Write a file all or nothing: nothing a crash or an error leaves behind is half a file."""

import os
import secrets
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path, mode: str = "wb", encoding: str | None = None):
    """Yield a file open on a hidden temporary name beside ``path``; rename it onto ``path``.

    On leaving the block normally the file is flushed to disk and renamed onto ``path`` with
    ``os.replace``, which is atomic within one file system (hence the same folder). If the block
    raises, the temporary file is deleted and ``path`` is left as it was. The file gets the usual
    permissions (those ``open`` gives under the umask).

        with atomic_write("history.json", "w", encoding="utf-8") as f:
            f.write(text)
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        with open(temporary, mode.replace("w", "x"), encoding=encoding) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename makes it visible
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
