"""Cross-validation folds by subject: stratified k-fold with an inner validation split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from neuropeft.atomic import write_tsv
from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.learn.tasks import infer_task, normalise_label
from neuropeft.outcomes import parse_outcomes

#: tasks stratified on a category (the class; survival: the event indicator), kept in every part
CATEGORICAL = ("classification", "survival")

#: how subjects are grouped so a group's rows stay in one fold: participant (their sessions) or site
GROUP_BY = ("participant", "site")


@dataclass
class FoldSettings:
    """Settings of ``neuropeft folds`` (config section ``folds``)."""

    n_folds: int = 5  # number of outer folds (each subject is tested once)
    seed: int = 0  # seed of the subject shuffling (same seed -> same folds)
    val_fraction: float = 0.2  # fraction of each training part held out (stratified) for early stopping
    group_by: str = "participant"  # "participant" (sessions of a subject stay together) or "site" (sites stay together)
    split_column: str = ""  # optional index column: each subject's test fold (predefined folds), or train/val/test (one fixed split); "" = computed
    task: str = (
        "auto"  # "auto", "classification", "regression" (stratified on quantile bins) or "survival" (on the event)
    )
    regression_bins: int = 5  # quantile bins of the target used to stratify a regression
    site_balanced: bool = False  # stratify on site too, so every site has train, val and test subjects in every fold (sites as federated clients); not with group_by site or a split_column


def read_index(path: str | Path) -> pd.DataFrame:
    """The model-input index (row, participant_id, session, target, site) with text columns as text."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = {"row", "participant_id", "session", "target"} - set(frame.columns)
    if missing:
        raise NeuropeftError(f"{path}: index lacks column(s) {sorted(missing)}")
    frame["row"] = frame["row"].astype(int)
    return frame


def site_rows(index: pd.DataFrame, site: str, path: str | Path) -> pd.DataFrame:
    """The index rows of one site (a federated client's subjects), refusing a site with none."""
    if "site" not in index.columns:
        raise NeuropeftError(f"{path} has no site column; set site_column in the config to name the sites")
    rows = index[index["site"] == site]
    if rows.empty:
        raise NeuropeftError(f"{path} has no subject at site {site!r} (sites: {sorted(set(index['site']))})")
    return rows.reset_index(drop=True)


def _strata(subjects: pd.DataFrame, task: str, bins: int, by_site: bool = False) -> np.ndarray:
    """One stratification label per subject: the class, the event indicator (survival), or the target's
    quantile bin (with ``by_site``, combined with the subject's site)."""
    if task == "classification":
        labels = subjects["target"].map(normalise_label).to_numpy()
    elif task == "survival":
        labels = parse_outcomes(subjects["target"].tolist())[1].astype(str)
    else:
        values = subjects["target"].astype(float).to_numpy()
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
        labels = np.digitize(values, edges).astype(str)
    if not by_site:
        return labels
    return (subjects["site"].astype(str) + "|" + pd.Series(labels, index=subjects.index).astype(str)).to_numpy()


def _check_sites(sites: np.ndarray, role: np.ndarray, fold: int) -> None:
    """Refuse a fold where a site lacks training, validation or test subjects (``site_balanced``)."""
    for site in sorted(set(sites.tolist())):
        missing = [name for name in ("train", "val", "test") if not (role[sites == site] == name).any()]
        if missing:
            raise NeuropeftError(
                f"fold {fold}: site {site!r} has no {missing[0]} subject ({(sites == site).sum()} subjects there); "
                "use fewer folds, a larger val_fraction, or leave that site out"
            )


def _outer_folds(subjects: pd.DataFrame, strata: np.ndarray, settings: FoldSettings) -> np.ndarray:
    """Test fold of each subject."""
    if settings.split_column:
        try:
            return subjects[settings.split_column].astype(int).to_numpy()
        except ValueError:
            raise NeuropeftError(f"split column {settings.split_column!r} must hold integer fold numbers") from None
    groups = subjects["site"] if settings.group_by == "site" else subjects["participant_id"]
    if groups.nunique() < settings.n_folds:
        raise NeuropeftError(
            f"{groups.nunique()} {settings.group_by} group(s) cannot fill {settings.n_folds} folds; lower n_folds"
        )
    splitter = StratifiedGroupKFold(n_splits=settings.n_folds, shuffle=True, random_state=settings.seed)
    fold = np.full(len(subjects), -1)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(subjects)), strata, groups.to_numpy())):
        fold[test] = k
    return fold


def _validation_part(
    train_idx: np.ndarray, strata: np.ndarray, sites: np.ndarray | None, fraction: float, seed: int
) -> np.ndarray:
    """The validation subjects of one fold's training part (``strata``: theirs), stratified; with
    ``sites``, drawn site by site (at least one each; unstratified where a site is too small)."""
    if sites is None:
        return train_test_split(train_idx, test_size=fraction, stratify=strata, random_state=seed)[1]
    chosen = []
    for site in sorted(set(sites[train_idx])):
        here = sites[train_idx] == site
        if here.sum() < 2:
            continue  # no room for both parts: the site check names it
        n_val = max(1, round(fraction * here.sum()))
        try:
            chosen.append(
                train_test_split(train_idx[here], test_size=n_val, stratify=strata[here], random_state=seed)[1]
            )
        except ValueError:  # a class with one subject at this site
            chosen.append(train_test_split(train_idx[here], test_size=n_val, random_state=seed)[1])
    return np.concatenate(chosen) if chosen else np.array([], dtype=int)


def _check_classes(part: pd.Series, classes: set[str], fold: int, role: str) -> None:
    """Refuse a test or validation part lacking a class."""
    absent = sorted(classes - set(part))
    if absent:
        raise NeuropeftError(
            f"fold {fold}: the {role} part has no subject of class {absent[0]}; use fewer folds "
            f"(or a larger val_fraction) or more subjects of that class"
        )


#: the roles a fixed split's column holds
ROLES = ("train", "val", "test")


def fixed_split(index: pd.DataFrame, column: str, task: str) -> pd.DataFrame:
    """One fold (0) whose roles are the ``column`` values (train/val/test), as public benchmarks define them."""
    values = set(index[column])
    if values - set(ROLES):
        raise NeuropeftError(
            f"split column {column!r} has value(s) {sorted(values - set(ROLES))}; use train, val, test"
        )
    missing = [role for role in ROLES if role not in values]
    if missing:
        raise NeuropeftError(f"split column {column!r} has no {missing[0]} subject; every part needs subjects")
    if task in CATEGORICAL:
        labels = pd.Series(_strata(index, task, 0), index=index.index)
        for role in ("val", "test"):
            absent = sorted(set(labels) - set(labels[index[column] == role]))
            if absent:
                raise NeuropeftError(
                    f"split column {column!r}: the {role} part has no subject of class {absent[0]}; move some there "
                    "(the threshold is fitted on val, and the metrics need every class in test)"
                )
    folds = pd.DataFrame(
        {"participant_id": index["participant_id"], "session": index["session"], "fold": 0, "role": index[column]}
    )
    check_folds(folds)
    return folds


def make_folds(index: pd.DataFrame, settings: FoldSettings) -> pd.DataFrame:
    """The folds table (participant_id, session, fold, role) for every index row and fold."""
    look_up_option(settings.group_by, GROUP_BY, "folds group_by")
    # whole sites held out, or a fixed split, decide the parts themselves: site balancing does not apply
    balanced = settings.site_balanced and settings.group_by == "participant" and not settings.split_column
    if (settings.group_by == "site" or balanced) and "site" not in index.columns:
        raise NeuropeftError(
            "group_by 'site' and site_balanced need a site column in the index: name it with the config's "
            "site_column, or set folds.site_balanced: false for a dataset from one site"
        )
    if settings.split_column and settings.split_column not in index.columns:
        raise NeuropeftError(f"split column {settings.split_column!r} is not in the index")
    task = infer_task(index["target"].tolist()) if settings.task == "auto" else settings.task
    if settings.split_column and set(index[settings.split_column]) <= set(ROLES):
        return fixed_split(index, settings.split_column, task)
    subjects = index.drop_duplicates("participant_id").reset_index(drop=True)
    if settings.split_column:
        per_subject = index.groupby("participant_id")[settings.split_column].nunique()
        if (per_subject > 1).any():
            raise NeuropeftError(
                f"{per_subject[per_subject > 1].index[0]} has sessions in different {settings.split_column!r} folds"
            )
    labels = _strata(subjects, task, settings.regression_bins)
    test_fold = _outer_folds(subjects, _strata(subjects, task, settings.regression_bins, balanced), settings)
    sites = subjects["site"].to_numpy().astype(str) if balanced else None
    classes = set(labels) if task in CATEGORICAL else set()
    rows = []
    for k in sorted(set(test_fold)):
        train_idx = np.flatnonzero(test_fold != k)
        inner = labels[train_idx]
        if task == "regression":  # re-bin the training part so every bin can reach the validation part
            n_val = int(np.ceil(settings.val_fraction * len(train_idx)))
            inner = _strata(subjects.iloc[train_idx], task, max(1, min(settings.regression_bins, n_val)))
        try:
            val_idx = _validation_part(train_idx, inner, sites, settings.val_fraction, settings.seed + k)
        except ValueError as error:
            raise NeuropeftError(
                f"fold {k}: cannot split a stratified validation part ({error}); use fewer folds or more subjects"
            ) from None
        role = np.full(len(subjects), "train", dtype=object)
        role[test_fold == k] = "test"
        role[val_idx] = "val"
        if classes:
            _check_classes(pd.Series(labels[role == "test"]), classes, k, "test")
            _check_classes(pd.Series(labels[role == "val"]), classes, k, "validation")
        if sites is not None:
            _check_sites(sites, role, k)
        role_of = dict(zip(subjects["participant_id"], role, strict=False))
        for participant, session in zip(index["participant_id"], index["session"], strict=False):
            rows.append((participant, session, int(k), role_of[participant]))
    folds = pd.DataFrame(rows, columns=["participant_id", "session", "fold", "role"])
    check_folds(folds)
    return folds


def check_folds(folds: pd.DataFrame) -> None:
    """Refuse a folds table where a subject (any of its sessions) has two roles in one fold."""
    roles = folds.groupby(["fold", "participant_id"])["role"].nunique()
    leaking = roles[roles > 1]
    if not leaking.empty:
        fold, participant = leaking.index[0]
        raise NeuropeftError(
            f"fold {fold}: {participant} is in more than one role (train/val/test); fix the folds table"
        )
    counts = folds.groupby(["fold", "participant_id", "session"]).size()
    if (counts > 1).any():
        fold, participant, session = counts[counts > 1].index[0]
        raise NeuropeftError(f"fold {fold}: {participant} session {session!r} appears twice; fix the folds table")
    bad = set(folds["role"]) - {"train", "val", "test"}
    if bad:
        raise NeuropeftError(f"folds table has unknown role(s) {sorted(bad)}; allowed: train, val, test")


def _allocate(sizes: np.ndarray, n_keep: int, minimum: int) -> np.ndarray:
    """Subjects kept per stratum: proportional to ``sizes`` (largest remainder), at least ``minimum`` each."""
    quota = sizes * n_keep / sizes.sum()
    keep = np.maximum(np.floor(quota).astype(int), minimum)
    while keep.sum() < n_keep:
        keep[np.argmax(np.where(keep < sizes, quota - keep, -np.inf))] += 1
    while keep.sum() > n_keep:
        keep[np.argmax(np.where(keep > minimum, keep - quota, -np.inf))] -= 1
    return keep


def subsample_training(train: pd.DataFrame, fraction: float, seed: int, task: str, fold: int) -> pd.DataFrame:
    """A seeded subsample of ``fraction`` of the training subjects (all their sessions), stratified by class
    (regression: target quantile bins), keeping >= 1 subject per class; validation and test parts are untouched."""
    if not 0 < fraction <= 1:
        raise NeuropeftError(f"train_fraction must be in (0, 1], got {fraction}; fix the experiment settings")
    if fraction == 1:
        return train
    subjects = train.drop_duplicates("participant_id").reset_index(drop=True)
    task = infer_task(train["target"].tolist()) if task == "auto" else task
    n_keep = int(np.floor(fraction * len(subjects) + 0.5))
    if task in CATEGORICAL:
        strata = _strata(subjects, task, 0)
        needed = max(2, len(set(strata)))
    else:
        strata = _strata(subjects, task, max(1, min(FoldSettings.regression_bins, n_keep)))
        needed = 2
    if n_keep < needed:
        raise NeuropeftError(
            f"fold {fold}: train_fraction {fraction} keeps {n_keep} of {len(subjects)} training subjects, fewer than the "
            f"{needed} needed (>= 1 per class, >= 2 in all); raise train_fraction"
        )
    labels, codes = np.unique(strata, return_inverse=True)
    keep = _allocate(np.bincount(codes), n_keep, 1 if task in CATEGORICAL else 0)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(subjects))
    chosen = np.concatenate([order[codes[order] == s][: keep[s]] for s in range(len(labels))])
    kept = set(subjects["participant_id"].iloc[chosen])
    return train[train["participant_id"].isin(kept)].reset_index(drop=True)


def write_folds(index: str | Path, out: str | Path, settings: FoldSettings) -> None:
    """Compute the folds of the index table's subjects, check them and write the folds table."""
    write_tsv(make_folds(read_index(index), settings), out)
