"""read_table / read_json / read_participants: values as written, errors naming the file."""

import math

import numpy as np
import pandas as pd
import pytest

from painmarkers.exceptions import BIDSError, DataError
from painmarkers.io import read_json, read_participants, read_table


def _write(path, text):
    path.write_text(text)
    return path


def test_read_tsv_and_csv_agree_and_keep_id_zeros(tmp_path):
    tsv = _write(tmp_path / "a.tsv", "participant_id\tage\tvas\nsub-007\t40\t6.5\n007b\t51\tn/a\n")
    csv = _write(tmp_path / "a.csv", "participant_id,age,vas\nsub-007,40,6.5\n007b,51,NA\n")
    for path in (tsv, csv):
        frame = read_table(path)
        assert frame["participant_id"].tolist() == ["sub-007", "007b"]
        assert frame["age"].tolist() == [40, 51]
        np.testing.assert_allclose(frame["vas"].to_numpy(), [6.5, np.nan], rtol=0, atol=0)
    # pure-numeric ids keep their zeros too
    frame = read_table(_write(tmp_path / "b.tsv", "participant_id\tx\n007\t1\n"))
    assert frame["participant_id"].tolist() == ["007"]


def test_read_table_strips_header_spaces_and_bom(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes("\ufeffparticipant_id , vas\nsub-01,3\n".encode())
    frame = read_table(path)
    assert list(frame.columns) == ["participant_id", "vas"]
    assert frame["vas"].tolist() == [3]


def test_read_gzipped_tsv(tmp_path):
    import gzip

    path = tmp_path / "scores.tsv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("participant_id\tvas\nsub-01\t6.5\n")
    frame = read_table(path)
    assert frame["participant_id"].tolist() == ["sub-01"] and frame["vas"].tolist() == [6.5]
    (tmp_path / "bad.tsv.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"Could not read .*bad\.tsv\.gz'"):
        read_table(tmp_path / "bad.tsv.gz")


def test_read_table_sep_override(tmp_path):
    path = _write(tmp_path / "d.txt", "a;b\n1;2\n")
    assert read_table(path, sep=";")["b"].tolist() == [2]


@pytest.mark.parametrize(
    ("fname", "text", "kwargs", "match"),
    [
        ("missing.tsv", None, {}, r"missing\.tsv' does not exist"),
        ("e.tsv", "", {}, r"e\.tsv' is empty"),
        ("dup.tsv", "id\tvas\tvas\n1\t2\t3\n", {}, r"dup\.tsv'.*duplicate column.*'vas'"),
        ("blank.tsv", "id\t\tvas\n1\t2\t3\n", {}, r"blank\.tsv'.*empty column name"),
        ("x.xlsx", "id\n1\n", {}, r"separator of .*x\.xlsx' from its extension '\.xlsx'"),
        ("tabs.csv", "id\tvas\n1\t2\n", {}, r"tabs\.csv' looks tab-separated"),
        ("commas.tsv", "id,vas\n1,2\n", {}, r"commas\.tsv' looks comma-separated"),
        ("req.tsv", "id\tvas\n1\t2\n", {"required": ["participant_id"]},
         r"req\.tsv'.*lacks.*\['participant_id'\]"),
        ("ragged.csv", "id,vas\n1,2\n3,4,5,6\n", {}, r"Could not parse.*ragged\.csv"),
    ],
)
def test_read_table_bad_input(tmp_path, fname, text, kwargs, match):
    path = tmp_path / fname
    if text is not None:
        path.write_text(text)
    with pytest.raises(DataError, match=match):
        read_table(path, **kwargs)


def test_read_table_not_utf8(tmp_path):
    path = tmp_path / "latin.tsv"
    path.write_bytes("id\tname\n1\tJos\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.tsv'.*not UTF-8"):
        read_table(path)


def test_read_table_error_class(tmp_path):
    with pytest.raises(BIDSError):
        read_table(tmp_path / "nope.tsv", error=BIDSError)


def test_read_json(tmp_path):
    good = _write(tmp_path / "s.json", '{"RepetitionTime": 2.5, "SliceTiming": [0, 1.2]}')
    assert read_json(good) == {"RepetitionTime": 2.5, "SliceTiming": [0, 1.2]}
    bad = _write(tmp_path / "bad.json", '{\n  "RepetitionTime": 2.5,\n}')
    with pytest.raises(BIDSError, match=r"bad\.json' is not valid JSON.*line 3, column 1"):
        read_json(bad)
    lst = _write(tmp_path / "list.json", "[1, 2]")
    with pytest.raises(BIDSError, match=r"list\.json' must hold a JSON object; it holds a list"):
        read_json(lst)
    with pytest.raises(BIDSError, match=r"nope\.json' does not exist"):
        read_json(tmp_path / "nope.json")


def test_read_participants_values_and_sidecar(tmp_path):
    _write(tmp_path / "participants.tsv",
           "participant_id\tgroup\tage\tsex\nsub-01\tCLBP\t44\tF\nsub-02\tHC\tn/a\tM\n")
    _write(tmp_path / "participants.json",
           '{"sex": {"Levels": {"F": "female", "M": "male"}}, "age": {"Units": "year"}}')
    for arg in (tmp_path, tmp_path / "participants.tsv"):
        frame = read_participants(arg)
        assert frame["participant_id"].tolist() == ["sub-01", "sub-02"]
        assert frame["group"].tolist() == ["CLBP", "HC"]
        assert frame["age"].iloc[0] == 44 and math.isnan(frame["age"].iloc[1])
        assert frame["sex"].tolist() == ["F", "M"]  # not recoded with Levels
        assert frame.attrs["sidecar"]["sex"]["Levels"] == {"F": "female", "M": "male"}
        assert frame.attrs["sidecar_path"] == str(tmp_path / "participants.json")


def test_read_participants_without_sidecar(tmp_path):
    _write(tmp_path / "participants.tsv", "participant_id\nsub-01\n")
    frame = read_participants(tmp_path)
    assert frame.attrs == {"sidecar": {}, "sidecar_path": None}
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"participant_id": ["sub-01"]}))


def test_read_participants_without_participant_id(tmp_path):
    _write(tmp_path / "participants.tsv", "subject\tgroup\nsub-01\tCLBP\n")
    with pytest.raises(BIDSError, match=r"participants\.tsv' has no 'participant_id' column.*"
                                        r"\['subject', 'group'\]"):
        read_participants(tmp_path)


def test_read_participants_duplicate_ids(tmp_path):
    # "sub-02" and "02" are the same subject once the prefix is removed
    _write(tmp_path / "participants.tsv", "participant_id\tage\nsub-01\t1\nsub-02\t2\n02\t3\n")
    with pytest.raises(BIDSError, match=r"Duplicate participant_id\(s\) \['02'\]"):
        read_participants(tmp_path)


def test_read_participants_empty_id(tmp_path):
    _write(tmp_path / "participants.tsv", "participant_id\tage\nsub-01\t1\nn/a\t2\n")
    with pytest.raises(BIDSError, match=r"empty participant_id on line\(s\) \[3\]"):
        read_participants(tmp_path)


def test_read_participants_bad_sidecar(tmp_path):
    _write(tmp_path / "participants.tsv", "participant_id\nsub-01\n")
    _write(tmp_path / "participants.json", "{oops")
    with pytest.raises(BIDSError, match=r"participants sidecar.*participants\.json' is not valid"):
        read_participants(tmp_path)


def test_read_participants_missing(tmp_path):
    with pytest.raises(BIDSError, match=r"participants table file.*participants\.tsv' does not"):
        read_participants(tmp_path)
