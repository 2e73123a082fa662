"""participants.tsv reading and target kind detection."""

from pathlib import Path

import pytest

from neuropeft.bids.participants import read_participants, target_kind
from neuropeft.errors import NeuropeftError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_reads_targets_and_sites(tmp_path: Path) -> None:
    path = write(tmp_path / "participants.tsv", "participant_id\tdiagnosis\tsite\nsub-01\t1\tA\nsub-02\t0\tB\r\n")
    result = read_participants(path, "diagnosis", "site")
    assert result.targets == {"sub-01": "1", "sub-02": "0"}
    assert result.sites == {"sub-01": "A", "sub-02": "B"}
    assert result.problems == []


def test_site_column_is_optional(tmp_path: Path) -> None:
    path = write(tmp_path / "participants.tsv", "participant_id\tdiagnosis\nsub-01\t1\n")
    assert read_participants(path, "diagnosis", "site").sites == {"sub-01": ""}
    assert read_participants(path, "diagnosis", "").sites == {"sub-01": ""}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("participant_id\tage\nsub-01\t3\n", "no column 'diagnosis' for the target (columns: participant_id, age)"),
        ("subject\tdiagnosis\nsub-01\t1\n", "no participant_id column (columns: subject, diagnosis)"),
        ("participant_id,diagnosis\nsub-01,1\n", "comma-separated"),
    ],
)
def test_fatal_column_errors(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(NeuropeftError, match="participants.tsv") as error:
        read_participants(write(tmp_path / "participants.tsv", text), "diagnosis", "site")
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(NeuropeftError, match="participants.tsv not found"):
        read_participants(tmp_path / "participants.tsv", "diagnosis", "site")


def test_row_problems(tmp_path: Path) -> None:
    text = "participant_id\tdiagnosis\nsub-01\t1\nsub-01\t0\nsub-02\tn/a\nsub-0_3\t1\n04\t1\nsub-05\t\nsub-06\t1\n"
    result = read_participants(write(tmp_path / "participants.tsv", text), "diagnosis", "site")
    messages = dict(result.problems)
    assert "appears 2 times in participants.tsv (lines 2, 3)" in messages["sub-01"]
    assert "has no value for the target 'diagnosis'" in messages["sub-02"]
    assert "not a valid BIDS label" in messages["sub-0_3"]
    assert "must start with 'sub-'" in messages["04"]
    assert "has no value" in messages["sub-05"]
    assert len(result.problems) == 5
    assert result.targets == {"sub-06": "1"}
    assert result.listed == {"sub-01", "sub-02", "sub-0_3", "04", "sub-05", "sub-06"}


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["0", "1", "1", "0"], "binary"),
        (["AD", "CN", "AD", "n/a"], "binary"),
        (["AD", "CN", "MCI"], "multiclass"),
        (["0", "1", "2", "0", "1", "2"], "multiclass"),
        (["61", "62", "63", "64", "65", "66"], "continuous"),
        (["0.5", "1.5", "2.25", "0.5", "1.5", "2.25"], "continuous"),
        ([str(v) for v in range(12)] * 3, "continuous"),
    ],
)
def test_target_kind(values: list[str], kind: str) -> None:
    assert target_kind(values) == kind


def test_stray_text_value_in_a_numeric_target_is_a_problem_not_a_class(tmp_path: Path) -> None:
    rows = "".join(f"sub-0{i}\t{i % 2}\n" for i in range(1, 6)) + "sub-09\tmaybe\n"
    result = read_participants(
        write(tmp_path / "participants.tsv", "participant_id\tdiagnosis\n" + rows), "diagnosis", ""
    )
    assert "sub-09" not in result.targets and len(result.targets) == 5
    assert [(pid, "'maybe'" in message) for pid, message in result.problems] == [("sub-09", True)]
    # a text column (e.g. group names) is left alone
    text = "participant_id\tgroup\nsub-01\tadhd\nsub-02\tcontrol\nsub-03\tmaybe\n"
    assert read_participants(write(tmp_path / "p2.tsv", text), "group", "").problems == []


def test_an_event_column_makes_each_target_a_time_to_event_outcome(tmp_path: Path) -> None:
    text = "participant_id\ttime\tevent\nsub-01\t4.5\t1\nsub-02\t10\t0\nsub-03\tlater\t1\nsub-04\t3\tmaybe\n"
    result = read_participants(write(tmp_path / "participants.tsv", text), "time", "site", event_column="event")
    assert result.targets == {"sub-01": "4.5:1", "sub-02": "10:0"}
    reasons = dict(result.problems)
    assert "time 'later' is not a number" in reasons["sub-03"]
    assert "event 'maybe' must be 1 (event) or 0 (censored)" in reasons["sub-04"]


def test_a_missing_event_column_is_fatal(tmp_path: Path) -> None:
    path = write(tmp_path / "participants.tsv", "participant_id\ttime\nsub-01\t4.5\n")
    with pytest.raises(NeuropeftError, match="no column 'status' for the event indicator"):
        read_participants(path, "time", "site", event_column="status")


def test_a_row_without_a_covariate_value_is_a_problem(tmp_path: Path) -> None:
    text = "participant_id\tdiagnosis\tage\tsex\nsub-01\t1\t30\tF\nsub-02\t0\tn/a\tM\nsub-03\t1\t41\t\n"
    result = read_participants(
        write(tmp_path / "participants.tsv", text), "diagnosis", "site", covariates=["age", "sex"]
    )
    assert result.targets == {"sub-01": "1"}
    reasons = dict(result.problems)
    assert "has no value for covariate(s) ['age']" in reasons["sub-02"]
    assert "has no value for covariate(s) ['sex']" in reasons["sub-03"]
    with pytest.raises(NeuropeftError, match=r"no column\(s\) \['bmi'\] named in the experiments' covariates"):
        read_participants(tmp_path / "participants.tsv", "diagnosis", "site", covariates=["bmi"])
