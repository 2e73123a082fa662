# Model-ready volumes per subject, the cohort QC table (its flagged subjects
# are left out of the stack by default: qc.on_flag) and the cohort stack read by training, one per
# model grid ({grid_tag}: "" for model_grid, "_res-NAME" for model_grids NAME).
import json


rule combine_channels:
    input:
        combine_inputs,
    output:
        model_input_path("combined"),
    log:
        subject_log("combine_channels", "{grid_tag}"),
    benchmark:
        subject_benchmark("combine_channels", "{grid_tag}")
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    params:
        failure=failure_record("combine_channels{grid_tag}"),
        # the modalities the subject lacks (optional_modalities): their channels are written as zeros
        absent=lambda wildcards: combine_options(subject_record(wildcards), config),
    shell:
        "python -m neuropeft --failure-record {params.failure} combine-channels --volumes {input} {params.absent}"
        " --out {output} 2> {log}"


rule failure_table:
    output:
        report("{root}/cohort/failures.tsv", caption="../report/failures.rst", category="QC"),
    log:
        "{root}/logs/failure_table.log",
    benchmark:
        "{root}/benchmarks/failure_table.tsv"
    conda:
        "../../envs/preproc.yaml"
    params:
        # the subjects left out: those whose failure still applies, when the policy drops them
        failures=lambda wildcards: json.dumps(
            FAILURES[wildcards.root] if config["on_subject_failure"] == "drop" else []
        ),
    shell:
        "python -m neuropeft failure-table --failures {params.failures:q} --out {output} 2> {log}"


rule stack_model_input:
    input:
        volumes=lambda wildcards: per_subject(model_volume(wildcards.grid_tag), wildcards.root),
        cohort=rules.validate_cohort.output.cohort,
        failures=rules.failure_table.output[0],
        qc_excluded="{root}/cohort/qc_excluded.tsv",
    output:
        array="{root}/cohort/model_input{grid_tag}.npy",
        index="{root}/cohort/model_input{grid_tag}.tsv",
    log:
        "{root}/logs/stack_model_input{grid_tag}.log",
    benchmark:
        "{root}/benchmarks/stack_model_input{grid_tag}.tsv"
    wildcard_constraints:
        root=BIDS_ROOTS,
    conda:
        "../../envs/preproc.yaml"
    params:
        # a has_<modality> index column per optional modality (from the combined volumes' sidecars)
        optional=" ".join(["--optional-modalities", *OPTIONAL_MODALITIES]) if OPTIONAL_MODALITIES else "",
    shell:
        "python -m neuropeft stack-model-input --volumes {input.volumes} --cohort {input.cohort} --target target"
        " --failures {input.failures} --qc-excluded {input.qc_excluded} {params.optional} --out-array {output.array}"
        " --out-index {output.index} 2> {log}"


# each modality's per-subject QC measurements (written by its qc_subject rule with the figures)
QC_METRICS = {"dwi": rules.qc_subject_dwi.output.metrics, "t1w": rules.qc_subject_t1w.output.metrics}


rule qc_table:
    input:
        lambda wildcards: [f for m in config["modalities"] for f in per_subject(QC_METRICS[m], wildcards.root, m)],
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
        "python -m neuropeft qc-table --metrics {input} --out {output.table} --out-excluded {output.excluded}"
        " --settings {params.settings:q} 2> {log}"
