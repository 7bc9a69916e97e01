"""File storage: files in a folder, atomic replace, and littlefs2 cut at every block write."""

import os

from firmware.hal.file_storage import TEMP_SUFFIX, FileStorage
from firmware.hal.virtual import MemoryStorage
from tests.firmware.checks import raises, skip
from tests.firmware.test_journal import CuttingStorage, PowerCut, Pump, _check_after_cut, scripted_session

TMP_ROOT = "out/test-tmp"
BLOCK_BYTES = 512
BLOCK_COUNT = 64


def _unique(prefix: str) -> str:
    return prefix + "".join(["%02x" % b for b in os.urandom(6)])


def _is_dir(path: str) -> bool:
    return os.stat(path)[0] & 0x4000 != 0


def _remove_tree(path: str) -> None:
    for name in os.listdir(path):
        child = path + "/" + name
        if _is_dir(child):
            _remove_tree(child)
        else:
            os.remove(child)
    os.rmdir(path)


def _with_folder(test) -> None:
    """Run test(folder) in a fresh folder under out/test-tmp, removed afterwards."""
    folder = TMP_ROOT + "/" + _unique("fs-")
    try:
        test(folder)
    finally:
        _remove_tree(folder)


def test_missing_file_reads_empty():
    """A name never written reads as no bytes, like a fresh board."""
    def check(folder):
        assert FileStorage(folder).read("journal") == b""
    _with_folder(check)


def test_appends_survive_a_new_storage_object():
    """Appended bytes come back in order, also through a second FileStorage (a reset)."""
    def check(folder):
        fs = FileStorage(folder)
        fs.append("journal", b"one\n")
        fs.append("journal", b"two\n")
        assert FileStorage(folder).read("journal") == b"one\ntwo\n"
    _with_folder(check)


def test_replace_swaps_the_contents_and_leaves_no_temporary_file():
    """replace() gives exactly the new bytes and only the one file."""
    def check(folder):
        fs = FileStorage(folder + "/a/b")
        fs.append("journal", b"old\n" * 100)
        fs.replace("journal", b"new\n")
        assert fs.read("journal") == b"new\n"
        assert os.listdir(folder + "/a/b") == ["journal"]
    _with_folder(check)


def test_cut_before_the_rename_keeps_the_old_contents():
    """A half-written temporary file (cut before the rename) is ignored and later overwritten."""
    def check(folder):
        fs = FileStorage(folder)
        fs.append("journal", b"old\n")
        with open(folder + "/journal" + TEMP_SUFFIX, "wb") as f:
            f.write(b"ne")
        assert fs.read("journal") == b"old\n"
        fs.append("journal", b"more\n")
        assert fs.read("journal") == b"old\nmore\n"
        fs.replace("journal", b"new\n")
        assert fs.read("journal") == b"new\n" and os.listdir(folder) == ["journal"]
    _with_folder(check)


def test_cut_between_remove_and_rename_reads_the_new_contents():
    """On FAT the old file goes first: with only the temporary file left, it is the contents."""
    def check(folder):
        fs = FileStorage(folder)
        with open(folder + "/journal" + TEMP_SUFFIX, "wb") as f:
            f.write(b"new\n")
        assert fs.read("journal") == b"new\n"
        fs.append("journal", b"next\n")
        assert fs.read("journal") == b"new\nnext\n" and os.listdir(folder) == ["journal"]
    _with_folder(check)


def test_bad_names_and_folders_are_refused():
    """Names with a slash or the temporary suffix, and an empty folder, are refused by value."""
    def check(folder):
        fs = FileStorage(folder)
        assert "a/b" in str(raises(ValueError, fs.read, "a/b"))
        raises(ValueError, fs.append, "journal" + TEMP_SUFFIX, b"x")
        raises(ValueError, fs.replace, "", b"x")
        raises(ValueError, FileStorage, "")
    _with_folder(check)


def test_scripted_journal_on_files_replays_after_a_reset():
    """The journal on real files: a whole session with compaction replays through a new object."""
    def check(folder):
        pump = Pump(FileStorage(folder))
        scripted_session(pump)
        assert pump.j.compactions >= 1
        copy = MemoryStorage({"journal": FileStorage(folder).read("journal")})
        _check_after_cut(pump, copy)
    _with_folder(check)


class BlockDevice:
    """A RAM flash chip for littlefs2 whose power goes after `budget` block writes or erases;
    the write that meets the cut lands half done."""

    def __init__(self, data: bytearray, budget: int) -> None:
        self.data = data
        self.left = budget
        self.ops = 0

    def readblocks(self, block: int, buf, offset: int = 0) -> None:
        at = block * BLOCK_BYTES + offset
        buf[:] = self.data[at:at + len(buf)]

    def writeblocks(self, block: int, buf, offset=None) -> None:
        at = block * BLOCK_BYTES + (offset or 0)
        if self.left == 0:
            half = len(buf) // 2
            self.data[at:at + half] = buf[:half]
        self._spend()
        self.data[at:at + len(buf)] = buf

    def ioctl(self, op: int, arg: int):
        if op == 4:
            return BLOCK_COUNT
        if op == 5:
            return BLOCK_BYTES
        if op == 6:  # erase
            self._spend()
            at = arg * BLOCK_BYTES
            self.data[at:at + BLOCK_BYTES] = b"\xff" * BLOCK_BYTES
        return 0

    def _spend(self) -> None:
        if self.left <= 0:
            raise OSError(5)  # EIO: the chip lost power
        self.left -= 1
        self.ops += 1


def _littlefs():
    if not hasattr(os, "VfsLfs2"):
        skip("littlefs2 (os.VfsLfs2) exists only in MicroPython")
    return getattr(os, "VfsLfs2")


def _mounted(vfs_type, data: bytearray, budget: int, action):
    """Mount the image, run action(FileStorage) until it ends or the power goes; ops used."""
    point = _unique("/lfs-")
    dev = BlockDevice(data, budget)
    getattr(os, "mount")(vfs_type(dev), point)  # MicroPython's os; CPython never gets here
    try:
        action(FileStorage(point))
    except (OSError, PowerCut):
        pass
    finally:
        getattr(os, "umount")(point)
    return dev.ops


def _read_image(vfs_type, data: bytearray) -> bytes:
    out = []
    _mounted(vfs_type, data, 1 << 30, lambda fs: out.append(fs.read("journal")))
    return out[0]


def _image_with(vfs_type, contents: bytes) -> bytearray:
    data = bytearray(BLOCK_BYTES * BLOCK_COUNT)
    vfs_type.mkfs(BlockDevice(data, 1 << 30))
    _mounted(vfs_type, data, 1 << 30, lambda fs: fs.replace("journal", contents))
    return data


def test_littlefs_replace_and_append_are_all_or_nothing():
    """On littlefs2, a cut at any block write leaves the old file or the new, never a mix."""
    lfs = _littlefs()
    old = b"old record\n" * 60
    new = b"new record\n" * 90
    base = _image_with(lfs, old)
    for action, after in ((lambda fs: fs.replace("journal", new), new),
                          (lambda fs: fs.append("journal", b"appended\n"), old + b"appended\n")):
        ops = _mounted(lfs, bytearray(base), 1 << 30, action)
        seen = []
        for budget in range(ops + 1):
            image = bytearray(base)
            _mounted(lfs, image, budget, action)
            got = _read_image(lfs, image)
            assert got == old or got == after, (budget, got[-30:])
            seen.append(got == after)
        assert seen[0] is False and seen[-1] is True


def test_journal_on_littlefs_survives_a_cut_at_every_block_write():
    """The scripted session on littlefs2, cut at every block write: recovery is never short."""
    lfs = _littlefs()
    empty = _image_with(lfs, b"")

    def session(fs):
        holder[0] = Pump(fs)
        scripted_session(holder[0])

    holder: list = [None]
    ops = _mounted(lfs, bytearray(empty), 1 << 30, session)
    assert holder[0].j.compactions >= 1
    for budget in range(0, ops + 1):
        image = bytearray(empty)
        _mounted(lfs, image, budget, session)
        copy = MemoryStorage({"journal": _read_image(lfs, image)})
        _check_after_cut(holder[0], copy)
