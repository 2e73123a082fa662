# Model-ready volumes per subject, the QC figures per subject, the cohort QC table (its flagged subjects
# are left out of the stack by default: qc.on_flag) and the cohort stack read by training.
import json

MODEL_DIR = f"{{root}}/model_input/{{key}}/{{stem}}_space-MNI152NLin2009aSym"


def model_volume():
    """The per-subject model-ready volume pattern: one modality's volume, or their channel stack."""
    if len(config["modalities"]) == 1:
        return f"{MODEL_DIR}_desc-{config['modalities'][0]}_model.nii.gz"
    return f"{MODEL_DIR}_desc-combined_model.nii.gz"


rule combine_channels:
    input:
        [f"{MODEL_DIR}_desc-{modality}_model.nii.gz" for modality in config["modalities"]],
    output:
        f"{MODEL_DIR}_desc-combined_model.nii.gz",
    log:
        f"{{root}}/logs/combine_channels/{{key}}/{{stem}}.log",
    benchmark:
        f"{{root}}/benchmarks/combine_channels/{{key}}/{{stem}}.tsv"
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    params:
        failure=failure_record("combine_channels"),
    shell:
        "{NP} --failure-record {params.failure} combine-channels --volumes {input} --out {output} 2> {log}"


rule failure_table:
    output:
        report("{root}/cohort/failures.tsv", caption="../report/failures.rst", category="QC"),
    log:
        "{root}/logs/failure_table.log",
    benchmark:
        "{root}/benchmarks/failure_table.tsv"
    params:
        # the subjects left out: those whose failure still applies, when the policy drops them
        failures=lambda wildcards: json.dumps(
            FAILURES[wildcards.root] if config["on_subject_failure"] == "drop" else []
        ),
    shell:
        "{NP} failure-table --failures {params.failures:q} --out {output} 2> {log}"


rule stack_model_input:
    input:
        volumes=lambda wildcards: per_subject(model_volume(), wildcards.root),
        cohort="{root}/cohort/cohort.tsv",
        failures="{root}/cohort/failures.tsv",
        qc_excluded="{root}/cohort/qc_excluded.tsv",
    output:
        array="{root}/cohort/model_input.npy",
        index="{root}/cohort/model_input.tsv",
    log:
        "{root}/logs/stack_model_input.log",
    benchmark:
        "{root}/benchmarks/stack_model_input.tsv"
    conda:
        "../../envs/preproc.yaml"
    shell:
        "{NP} stack-model-input --volumes {input.volumes} --cohort {input.cohort} --target target"
        " --failures {input.failures} --qc-excluded {input.qc_excluded} --out-array {output.array} --out-index {output.index} 2> {log}"


# What qc-metrics measures per modality: the native brain mask (its grid is the field of view), the
# registration, and for DWI the tensor maps.
QC_INPUTS = {
    "dwi": {
        "mask": f"{DWI}_desc-brain_mask.nii.gz",
        "transforms": f"{DWI}_from-dwiref_{TO_MNI}_transforms.json",
        "fa": f"{DWI}_model-DTI_FA.nii.gz",
        "md": f"{DWI}_model-DTI_MD.nii.gz",
    },
    "t1w": {"mask": f"{ANAT}_desc-brain_mask.nii.gz", "transforms": f"{ANAT}_from-T1w_{TO_MNI}_transforms.json"},
}
QC_METRICS = "{root}/qc/{key}/{stem}_{modality}_qc.json"


rule qc_metrics:
    input:
        unpack(
            lambda w: {
                name: p.format(root=w.root, key=w.key, stem=w.stem) for name, p in QC_INPUTS[w.modality].items()
            }
        ),
    output:
        QC_METRICS,
    log:
        "{root}/logs/qc_metrics/{key}/{stem}_{modality}.log",
    benchmark:
        "{root}/benchmarks/qc_metrics/{key}/{stem}_{modality}.tsv"
    wildcard_constraints:
        modality="dwi|t1w",
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    params:
        maps=lambda wildcards, input: f"--fa {input.fa} --md {input.md}" if wildcards.modality == "dwi" else "",
        settings=settings_json({"wm_threshold": config["qc"]["wm_threshold"]}),
    shell:
        "{NP} qc-metrics --subject {wildcards.stem} --modality {wildcards.modality} --mask {input.mask}"
        " --transforms {input.transforms} {params.maps} --out {output} --settings {params.settings:q} 2> {log}"


rule qc_table:
    input:
        lambda wildcards: [
            f for m in config["modalities"] for f in per_subject(QC_METRICS.replace("{modality}", m), wildcards.root)
        ],
    output:
        table=report("{root}/qc/qc.tsv", caption="../report/qc_table.rst", category="QC"),
        excluded="{root}/cohort/qc_excluded.tsv",
    log:
        "{root}/logs/qc_table.log",
    benchmark:
        "{root}/benchmarks/qc_table.tsv"
    conda:
        "../../envs/preproc.yaml"
    params:
        settings=settings_json({k: v for k, v in config["qc"].items() if k != "wm_threshold"}),
    shell:
        "{NP} qc-table --metrics {input} --out {output.table} --out-excluded {output.excluded} --settings {params.settings:q} 2> {log}"
