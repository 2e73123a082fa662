# Model-ready volumes per subject, the cohort stack read by training, and the cohort QC table.
import json

MODEL_DIR = f"{{root}}/model_input/{{key}}/{{stem}}_space-MNI152NLin2009aSym"
CHANNELS = {"dwi": ["FA", "MD"], "t1w": ["T1w"]}


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
    params:
        failure=failure_record("combine_channels"),
    group: "subject"
    benchmark:
        f"{{root}}/benchmarks/combine_channels/{{key}}/{{stem}}.tsv"
    log:
        f"{{root}}/logs/combine_channels/{{key}}/{{stem}}.log",
    conda:
        "../../envs/preproc.yaml"
    shell:
        "{NP} --failure-record {params.failure} combine-channels --volumes {input} --out {output} 2> {log}"


rule failure_table:
    output:
        report("{root}/cohort/failures.tsv", caption="../report/failures.rst", category="QC"),
    params:
        # the subjects left out: those whose failure still applies, when the policy drops them
        failures=lambda wildcards: json.dumps(FAILURES[wildcards.root] if config["on_subject_failure"] == "drop" else []),
    benchmark:
        "{root}/benchmarks/failure_table.tsv"
    log:
        "{root}/logs/failure_table.log",
    shell:
        "{NP} failure-table --failures {params.failures:q} --out {output} 2> {log}"


rule stack_model_input:
    input:
        volumes=lambda wildcards: per_subject(model_volume(), wildcards.root),
        cohort="{root}/cohort/cohort.tsv",
        failures="{root}/cohort/failures.tsv",
    output:
        array="{root}/cohort/model_input.npy",
        index="{root}/cohort/model_input.tsv",
    benchmark:
        "{root}/benchmarks/stack_model_input.tsv"
    log:
        "{root}/logs/stack_model_input.log",
    conda:
        "../../envs/preproc.yaml"
    shell:
        "{NP} stack --volumes {input.volumes} --cohort {input.cohort} --target target"
        " --failures {input.failures} --out-array {output.array} --out-index {output.index} 2> {log}"


def qc_table_input(name):
    """Input function: one kind of per-subject file the QC table summarises (DWI's when DWI is used)."""
    space = "dwi" if "dwi" in config["modalities"] else "anat"
    prefix = f"{{root}}/preproc/{{key}}/{space}/{{stem}}"
    moving = "dwiref" if space == "dwi" else "T1w"
    patterns = {
        "masks": f"{prefix}_desc-brain_mask.nii.gz",
        "registrations": f"{prefix}_from-{moving}_{TO_MNI}_transforms.json",
        "volumes": model_volume(),
    }
    return lambda wildcards: per_subject(patterns[name], wildcards.root)


rule qc_table:
    input:
        masks=qc_table_input("masks"),
        registrations=qc_table_input("registrations"),
        volumes=qc_table_input("volumes"),
    output:
        report("{root}/qc/qc.tsv", caption="../report/qc_table.rst", category="QC"),
    params:
        subjects=lambda wildcards: [s["stem"] for s in DATASETS[wildcards.root]],
        settings=settings_json(
            {
                **config["qc"],
                "channel_names": [c for m in config["modalities"] for c in CHANNELS[m]],
                "template_voxel_mm": MODEL_GRID["voxel_mm"],
            }
        ),
    benchmark:
        "{root}/benchmarks/qc_table.tsv"
    log:
        "{root}/logs/qc_table.log",
    conda:
        "../../envs/preproc.yaml"
    shell:
        "{NP} qc-table --subjects {params.subjects} --brain-masks {input.masks}"
        " --registrations {input.registrations} --model-volumes {input.volumes}"
        " --out {output} --settings {params.settings:q} 2> {log}"
