"""Folds: subject-wise, stratified, seeded, with refusals for leaks and missing classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.errors import NeuropeftError
from neuropeft.learn.folds import FoldSettings, check_folds, make_folds, read_index


def _index(n: int = 30, sessions: int = 2, classes: int = 2, regression: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        target = f"{rng.uniform(20, 80):.1f}" if regression else str(i % classes)
        for s in range(sessions):
            rows.append((len(rows), f"sub-{i:03d}", f"ses-{s}", target, f"site{(i // 2) % 4}"))
    return pd.DataFrame(rows, columns=["row", "participant_id", "session", "target", "site"])


def test_every_subject_once_per_fold_and_tested_once() -> None:
    index = _index()
    folds = make_folds(index, FoldSettings(n_folds=5, val_fraction=0.25))
    assert set(folds.columns) == {"participant_id", "session", "fold", "role"}
    assert len(folds) == 5 * len(index)
    for _, part in folds.groupby("fold"):
        assert sorted(zip(part.participant_id, part.session, strict=False)) == sorted(
            zip(index.participant_id, index.session, strict=False)
        )
        # sessions of a subject share one role
        assert part.groupby("participant_id")["role"].nunique().max() == 1
        # the test part is stratified: 6 subjects, 3 of each class
        test = part[part.role == "test"].drop_duplicates("participant_id")
        assert len(test) == 6
        labels = index.drop_duplicates("participant_id").set_index("participant_id").loc[test.participant_id, "target"]
        assert sorted(labels.value_counts().tolist()) == [3, 3]
        val = part[part.role == "val"].drop_duplicates("participant_id")
        assert len(val) == 6  # 25 % of 24 training subjects
    tested = folds[folds.role == "test"].drop_duplicates(["participant_id", "fold"])
    assert tested.participant_id.value_counts().max() == 1
    assert tested.participant_id.nunique() == 30


def test_seed_determines_folds() -> None:
    index = _index()
    a = make_folds(index, FoldSettings(seed=3))
    assert a.equals(make_folds(index, FoldSettings(seed=3)))
    assert not a.equals(make_folds(index, FoldSettings(seed=4)))


def test_group_by_site_keeps_sites_together() -> None:
    folds = make_folds(_index(n=40), FoldSettings(n_folds=4, group_by="site"))
    site = {f"sub-{i:03d}": f"site{(i // 2) % 4}" for i in range(40)}
    for _, part in folds[folds.role == "test"].groupby("fold"):
        assert len({site[p] for p in part.participant_id}) == 1


def test_regression_is_stratified_on_quantile_bins() -> None:
    index = _index(n=50, sessions=1, regression=True)
    folds = make_folds(index, FoldSettings(n_folds=5, regression_bins=5))
    ages = index.set_index("participant_id")["target"].astype(float)
    means = [ages.loc[p.participant_id].mean() for _, p in folds[folds.role == "test"].groupby("fold")]
    assert np.ptp(means) < 0.5 * ages.std()


def test_predefined_split_column() -> None:
    index = _index(n=20, sessions=1)
    index["split"] = [(i // 2) % 4 for i in range(20)]
    folds = make_folds(index, FoldSettings(split_column="split", val_fraction=0.34))
    for k, part in folds[folds.role == "test"].groupby("fold"):
        assert set(part.participant_id) == {f"sub-{i:03d}" for i in range(20) if (i // 2) % 4 == k}


def test_a_train_val_test_column_is_one_fixed_split() -> None:
    index = _index(n=12, sessions=2)
    parts = ("train",) * 4 + ("val",) * 2 + ("test",) * 2 + ("train",) * 4  # by subject; both classes in each
    index["split"] = [parts[int(pid[-3:])] for pid in index["participant_id"]]
    folds = make_folds(index, FoldSettings(split_column="split", n_folds=5))
    assert set(folds["fold"]) == {0} and len(folds) == len(index)
    assert folds["role"].tolist() == index["split"].tolist()


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        (("train", "train", "test"), "has no val subject"),
        (("train", "val", "test", "test"), "the val part has no subject of class 0; move some there"),
    ],
)
def test_a_fixed_split_without_a_part_or_a_class_is_refused(roles: tuple[str, ...], message: str) -> None:
    index = _index(n=12, sessions=1)
    index["split"] = [roles[i % len(roles)] for i in range(12)]
    with pytest.raises(NeuropeftError, match=message):
        make_folds(index, FoldSettings(split_column="split"))


def test_two_roles_refused() -> None:
    folds = make_folds(_index(), FoldSettings())
    leak = folds.copy()
    first = leak.index[(leak.fold == 0) & (leak.session == "ses-1")][0]
    leak.loc[first, "role"] = "test" if leak.loc[first, "role"] != "test" else "train"
    with pytest.raises(NeuropeftError, match=r"fold 0: sub-\d+ is in more than one role"):
        check_folds(leak)


def test_missing_class_in_a_fold_is_a_clear_error() -> None:
    index = _index(n=30, sessions=1, classes=2)
    index.loc[index.participant_id.isin(["sub-001", "sub-003", "sub-005", "sub-007"]), "target"] = "2"
    with pytest.raises(
        NeuropeftError, match=r"fold \d+: the (test|validation) part has no subject of class 2; use fewer folds"
    ):
        make_folds(index, FoldSettings(n_folds=5))


def test_cli_writes_folds(tmp_path) -> None:
    _index().to_csv(tmp_path / "model_input.tsv", sep="\t", index=False)
    out = tmp_path / "folds.tsv"
    assert (
        cli_main(
            ["folds", "--index", str(tmp_path / "model_input.tsv"), "--out", str(out), "--settings", '{"n_folds": 3}']
        )
        == 0
    )
    folds = pd.read_csv(out, sep="\t")
    assert sorted(folds.fold.unique()) == [0, 1, 2]
    assert read_index(tmp_path / "model_input.tsv").shape[0] * 3 == len(folds)


def test_site_balanced_gives_every_site_train_val_and_test_subjects_in_every_fold() -> None:
    rng = np.random.default_rng(4)
    sites = ["a"] * 20 + ["b"] * 20 + ["c"] * 5  # a small site
    rows = [(i, f"sub-{i:03d}", "", str(int(rng.random() < 0.4)), site) for i, site in enumerate(sites)]
    index = pd.DataFrame(rows, columns=["row", "participant_id", "session", "target", "site"])
    site = dict(zip(index.participant_id, index.site, strict=True))
    balanced = make_folds(index, FoldSettings(n_folds=5, val_fraction=0.25, site_balanced=True))
    for _, part in balanced.groupby("fold"):
        for role in ("train", "val", "test"):
            assert {site[p] for p in part[part.role == role].participant_id} == {"a", "b", "c"}, role
    # class-only stratification leaves the small site out of some fold's test part on this cohort
    plain = make_folds(index, FoldSettings(n_folds=5, val_fraction=0.25))
    assert any(
        {site[p] for p in part[part.role == "test"].participant_id} != {"a", "b", "c"}
        for _, part in plain.groupby("fold")
    )


def test_site_balanced_names_a_site_too_small_for_the_folds() -> None:
    index = _index(n=40, sessions=1)
    index.loc[index.index[:3], "site"] = "tiny"  # 3 subjects cannot fill 5 test parts
    with pytest.raises(NeuropeftError, match="site 'tiny' has no test subject \\(3 subjects there\\); use fewer folds"):
        make_folds(index, FoldSettings(n_folds=5, site_balanced=True))
    # holding whole sites out decides the parts itself: the site balance does not apply there
    by_site = make_folds(index, FoldSettings(n_folds=5, site_balanced=True, group_by="site"))
    test_sites = by_site[by_site["role"] == "test"].merge(index, on=["participant_id", "session"])
    assert (test_sites.groupby("fold")["site"].nunique() >= 1).all()
    assert test_sites.groupby("site")["fold"].nunique().eq(1).all()  # each site tested in one fold only


def test_survival_is_stratified_on_the_event() -> None:
    index = _index(n=30, sessions=1)
    index["target"] = [f"{1 + i * 0.5:g}:{int(i % 3 == 0)}" for i in range(30)]  # 10 events, 20 censored
    folds = make_folds(index, FoldSettings(n_folds=5, val_fraction=0.25, task="survival"))
    events = dict(zip(index.participant_id, index.target.str.endswith(":1"), strict=True))
    for _, part in folds.groupby("fold"):
        for role in ("test", "val"):
            ids = part.loc[part.role == role, "participant_id"]
            assert any(events[i] for i in ids) and not all(events[i] for i in ids)
        test = part.loc[part.role == "test", "participant_id"]
        assert sum(events[i] for i in test) == 2  # 10 events over 5 folds
