"""Non-volatile files on a board's littlefs flash filesystem.

littlefs is copy-on-write: a file written and closed is either all there or not at all, and a
rename replaces its target atomically. So `replace()` writes a temporary file and renames it
over the old one; a power cut leaves the old or the new content, never half of each. The
journal appends with `append()`, whose records carry their own CRC.

    storage = FileStorage("/data")
    storage.append("journal.bin", record); storage.read("journal.bin")
"""

import os


class FileStorage:
    def __init__(self, root: str = "/data") -> None:
        self.root = root
        try:
            os.mkdir(root)
        except OSError:
            pass  # already there

    def _path(self, name: str) -> str:
        if not name or "/" in name or name.startswith("."):
            raise ValueError("storage file name %r must be a plain name such as 'journal.bin'" % (name,))
        return self.root + "/" + name

    def read(self, name: str) -> bytes:
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except OSError:
            return b""

    def append(self, name: str, data: bytes) -> None:
        with open(self._path(name), "ab") as f:
            f.write(data)

    def replace(self, name: str, data: bytes) -> None:
        path = self._path(name)
        tmp = path + ".new"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
