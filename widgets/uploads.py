"""A file uploaded through a page, kept on the server while the page works with it.

It is written to a private temporary folder (``tempfile.mkdtemp``: only the server's
user may read it) under a fixed name keeping its extension, and removed by
:meth:`Upload.remove`, when the object is collected, or when the process exits. A
server stopped by a signal removes nothing: the folders are named after their process,
and the next upload on the machine removes those of processes gone (an upload is a
customer list: not something to keep lying around).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import weakref
from pathlib import Path

#: The start of an upload's folder name, followed by the process id.
FOLDER_PREFIX = "crmbook-upload-"


class Upload:
    """An uploaded file's copy on the server: ``path`` in its own ``folder``, where
    files made from it (a rejects file) go too."""

    def __init__(self, data: bytes, suffix: str):
        self.folder = private_folder()
        self._remove = weakref.finalize(self, shutil.rmtree, self.folder, True)
        self.path = self.folder / f"upload{suffix}"
        self.path.write_bytes(data)

    def remove(self) -> None:
        """Remove the folder and everything in it (again: nothing)."""
        self._remove()


def private_folder() -> Path:
    """A new folder for one upload that only this user may read, named after this
    process. Folders that processes now gone left behind are removed first; only real
    folders this user owns are touched (a link there is never followed)."""
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{FOLDER_PREFIX}*"):
        pid = old.name.removeprefix(FOLDER_PREFIX).partition("-")[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            found = old.lstat()
        except OSError:
            continue  # removed meanwhile by another process
        if stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid():
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
