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
