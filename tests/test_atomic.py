"""Atomic writing: the destination is either the old or the complete new file."""

import pytest

from painmarkers._atomic import atomic_write, write_bytes, write_text


def test_write_creates_folder_and_replaces(tmp_path):
    path = tmp_path / "a" / "b" / "t.tsv"
    assert write_text(path, "x\t1\n") == path
    assert path.read_text() == "x\t1\n"
    write_bytes(path, b"y\t2\n")
    assert path.read_bytes() == b"y\t2\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["t.tsv"]


def test_failing_writer_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "map.nii.gz"
    path.write_bytes(b"old")

    def writer(tmp):
        assert tmp.endswith(".nii.gz") and tmp != str(path)
        with open(tmp, "wb") as fh:
            fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, writer, suffix=".nii.gz")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["map.nii.gz"]


def test_jsonable_and_write_json(tmp_path):
    import json
    from pathlib import Path

    import numpy as np

    from painmarkers._atomic import jsonable, write_json

    payload = {"band": (0.01, 0.08), 3: np.float32(2.5), "n": np.int64(4),
               "ok": np.bool_(True), "nan": float("nan"), "inf": np.float64(np.inf),
               "arr": np.array([[1, 2]]), "path": Path("/a/b"), "set": {1},
               "obj": object.__new__(type("Est", (), {"__repr__": lambda self: "Est()"}))}
    assert jsonable(payload) == {"band": [0.01, 0.08], "3": 2.5, "n": 4, "ok": True,
                                 "nan": None, "inf": None, "arr": [[1, 2]], "path": "/a/b",
                                 "set": [1], "obj": "Est()"}
    path = write_json(tmp_path / "x" / "p.json", payload)
    assert json.loads(path.read_text())["band"] == [0.01, 0.08]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_files_and_folders_respect_the_umask(tmp_path, umask):
    """mkstemp's temporary files are 0600: the written file gets 0666 & ~umask, as
    open() would give it, and new folders 0777 & ~umask."""
    import os

    from painmarkers._atomic import current_umask, write_json

    old = os.umask(umask)
    try:
        assert current_umask() == umask
        text = write_text(tmp_path / "new" / "deeper" / "t.tsv", "x\n")
        data = write_bytes(tmp_path / "b.bin", b"x")
        js = write_json(tmp_path / "p.json", {"a": 1})
    finally:
        os.umask(old)
    for path in (text, data, js):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, oct(path.stat().st_mode)
    for folder in (tmp_path / "new", tmp_path / "new" / "deeper"):
        assert folder.stat().st_mode & 0o777 == 0o777 & ~umask


@pytest.mark.parametrize(("code", "reason"), [
    (28, "no space left on device [ENOSPC]; free some space or choose another output folder"),
    (13, "permission denied [EACCES]; choose an output folder you may write to"),
    (30, "read-only file system [EROFS]; choose an output folder on a writable file system"),
])
def test_disk_errors_are_one_line_naming_the_file(tmp_path, code, reason):
    import errno

    from painmarkers.exceptions import OutputError, PainmarkersError

    assert errno.errorcode[code] in reason

    def writer(tmp):
        with open(tmp, "wb") as fh:
            fh.write(b"half")
        raise OSError(code, "from the system")

    path = tmp_path / "tables" / "t.tsv"
    with pytest.raises(OutputError) as info:
        atomic_write(path, writer)
    err = info.value
    assert str(err) == f"Could not write {str(path)!r}: {reason}."
    assert isinstance(err, OSError) and isinstance(err, PainmarkersError)
    assert err.errno == code and err.filename == str(path)
    assert list(path.parent.iterdir()) == []  # the temporary file was removed


def test_disk_error_creating_the_folder_names_it(tmp_path, monkeypatch):
    import errno
    import pathlib

    from painmarkers.exceptions import OutputError

    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "mkdir", refuse)
    with pytest.raises(OutputError, match=r"^Could not create the folder '.*/out': permission "
                                          r"denied \[EACCES\]"):
        write_text(tmp_path / "out" / "a.txt", "x")


def test_other_errors_are_not_disguised(tmp_path):
    def writer(tmp):
        raise OSError(2, "No such file or directory", "/some/input.nii.gz")

    with pytest.raises(OSError) as info:
        atomic_write(tmp_path / "x.txt", writer)
    assert type(info.value) is FileNotFoundError


def test_an_output_path_under_a_file_is_one_line_naming_it(tmp_path):
    """A file standing where the output folder should be (ENOTDIR / EEXIST) is an
    OutputError naming the folder, not a bare NotADirectoryError / FileExistsError."""
    from painmarkers.exceptions import OutputError

    (tmp_path / "results").write_text("not a folder")
    with pytest.raises(OutputError, match=r"^Could not create the folder '.*/results/tables': "
                                          r"(a part of the path is a file, not a folder "
                                          r"\[ENOTDIR\]|a file of that name stands where a "
                                          r"folder is needed \[EEXIST\])"):
        write_text(tmp_path / "results" / "tables" / "t.tsv", "x")
    with pytest.raises(OutputError, match=r"^Could not create the folder '.*/results': a file "
                                          r"of that name stands where a folder is needed"):
        write_text(tmp_path / "results" / "t.tsv", "x")
