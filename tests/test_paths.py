"""The per-subject path builder the rules use: BIDS-style names with Snakemake wildcards left in."""

from __future__ import annotations

from neuropeft.paths import TEMPLATE_SPACE, bids_path, failure_record, subject_benchmark, subject_log


def test_bids_path_orders_entities_as_given_and_keeps_wildcards() -> None:
    path = bids_path("preproc", "dwi", "transforms", ".json", from_="dwiref", to=TEMPLATE_SPACE)
    assert path == ("{root}/preproc/{subject_dir}/dwi/{file_prefix}_from-dwiref_to-MNI152NLin2009aSym_transforms.json")
    filled = path.format(root="results", subject_dir="sub-01/ses-1", file_prefix="sub-01_ses-1")
    assert filled == "results/preproc/sub-01/ses-1/dwi/sub-01_ses-1_from-dwiref_to-MNI152NLin2009aSym_transforms.json"


def test_bids_path_without_datatype_folder() -> None:
    assert bids_path("model_input", "", "model", space="X", desc="dwi") == (
        "{root}/model_input/{subject_dir}/{file_prefix}_space-X_desc-dwi_model.nii.gz"
    )


def test_log_benchmark_and_failure_record_are_per_step_and_subject() -> None:
    assert subject_log("n4_dwi") == "{root}/logs/n4_dwi/{subject_dir}/{file_prefix}.log"
    assert subject_benchmark("qc_metrics", "_{modality}") == (
        "{root}/benchmarks/qc_metrics/{subject_dir}/{file_prefix}_{modality}.tsv"
    )
    assert failure_record("fit_tensor") == "{root}/failures/{file_prefix}/fit_tensor.json"
