"""firmware.hal.board_storage: plain files under a root, replace() by rename, names checked."""

import pytest

from firmware.hal.board_storage import FileStorage


def test_append_read_and_replace(tmp_path):
    """Appends accumulate; replace swaps the whole content and leaves no temporary file."""
    s = FileStorage(str(tmp_path / "data"))
    assert s.read("journal.bin") == b""
    s.append("journal.bin", b"ab")
    s.append("journal.bin", b"cd")
    assert s.read("journal.bin") == b"abcd"
    s.replace("journal.bin", b"xyz")
    assert s.read("journal.bin") == b"xyz"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["journal.bin"]


def test_existing_root_is_kept(tmp_path):
    """A second FileStorage on the same root sees the first one's files."""
    FileStorage(str(tmp_path)).append("a", b"1")
    assert FileStorage(str(tmp_path)).read("a") == b"1"


@pytest.mark.parametrize("name", ["", "../boot.py", "sub/x", ".hidden"])
def test_names_that_leave_the_folder_are_refused(tmp_path, name):
    """Only plain names: no path separators, no dot files, not empty."""
    with pytest.raises(ValueError, match="plain name"):
        FileStorage(str(tmp_path)).read(name)
