"""The Storage seam on real files: a board's littlefs2 flash, or a folder for the virtual board.

Example: `FileStorage("/")` on a Pico keeps the journal in `/journal` on its littlefs2
filesystem; the virtual board under MicroPython's unix port or CPython uses a folder such as
`FileStorage("out/board-1")`, which survives the virtual board's process being killed.
Only plain open() and os calls that exist in both MicroPython and CPython are used.

What a power cut can do to each call:
- append(name, data): the file is opened, written and closed per call. On littlefs the
  appended bytes become part of the file only when it is closed (copy-on-write), so a cut
  leaves the file with or without the whole append; on a POSIX or FAT filesystem a cut can
  leave part of it. Readers must cope with a partial last write (the journal does).
- replace(name, data) is atomic: it writes `name + ".new"`, closes it, then os.rename()s it
  over `name`. Rename is atomic on littlefs and POSIX, so after a cut read() returns the old
  contents or the new, never a mix. FAT cannot rename over an existing file: there the old
  file is removed first, and read() falls back to `name + ".new"` when `name` is missing, so
  a cut between the remove and the rename still returns the new contents. (Only a first
  replace of a name that never existed can leave a partial temporary file for read(); the
  journal's file is always begun by appends.)
The littlefs claims are checked by tests/firmware/test_file_storage.py, which cuts the power
of a RAM flash under MicroPython's own littlefs2 at every block write.
"""

import errno
import os

TEMP_SUFFIX = ".new"


class FileStorage:
    def __init__(self, folder: str) -> None:
        if not isinstance(folder, str) or folder == "":
            raise ValueError("file storage: folder=%r; give a folder path such as '/' or 'out/board-1'" % (folder,))
        self.folder = folder
        self._prefix = folder if folder.endswith("/") else folder + "/"
        make_folders(folder)

    def path(self, name: str) -> str:
        if not isinstance(name, str) or name == "" or "/" in name or name.endswith(TEMP_SUFFIX):
            raise ValueError("file storage: name=%r; give a plain file name without '/' or %r"
                             % (name, TEMP_SUFFIX))
        return self._prefix + name

    def read(self, name: str) -> bytes:
        """The file's bytes; b"" when it does not exist."""
        path = self.path(name)
        data = _read_or_none(path)
        if data is None:
            data = _read_or_none(path + TEMP_SUFFIX)
        return data if data is not None else b""

    def append(self, name: str, data: bytes) -> None:
        path = self.path(name)
        if not _exists(path) and _exists(path + TEMP_SUFFIX):
            os.rename(path + TEMP_SUFFIX, path)  # finish a replace that a cut interrupted on FAT
        _write(path, "ab", data)

    def replace(self, name: str, data: bytes) -> None:
        """Atomically make `data` the file's contents (see the module docstring)."""
        path = self.path(name)
        temp = path + TEMP_SUFFIX
        _write(temp, "wb", data)
        try:
            os.rename(temp, path)
        except OSError:
            if not _exists(path):
                raise
            os.remove(path)  # FAT: no rename over an existing file
            os.rename(temp, path)


def make_folders(folder: str) -> None:
    """mkdir -p, with the os.mkdir that both interpreters have."""
    path = "/" if folder.startswith("/") else ""
    for part in folder.split("/"):
        if part:
            path += part
            if not _exists(path):
                os.mkdir(path)
            path += "/"


def _exists(path: str) -> bool:
    try:
        os.stat(path)
    except OSError:
        return False
    return True


def _read_or_none(path: str):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        if e.args[0] == errno.ENOENT:
            return None
        raise


def _write(path: str, mode: str, data: bytes) -> None:
    with open(path, mode) as f:
        f.write(data)
        f.flush()
        if hasattr(os, "fsync"):  # CPython: push it past the OS cache too
            os.fsync(f.fileno())
