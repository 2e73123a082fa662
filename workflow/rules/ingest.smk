# Index and validate a BIDS dataset (the cohort's, or the external test set's): the validated
# cohort table and excluded.tsv.


rule validate_cohort:
    input:
        lambda wildcards: f"{BIDS_DIRS[wildcards.root]}/participants.tsv",
        lambda wildcards: raw_inputs(wildcards.root),
    output:
        cohort="{root}/cohort/cohort.tsv",
        excluded="{root}/cohort/excluded.tsv",
    log:
        "{root}/logs/validate_cohort.log",
    benchmark:
        "{root}/benchmarks/validate_cohort.tsv"
    wildcard_constraints:
        root=BIDS_ROOTS,
    conda:
        "../../envs/preproc.yaml"
    params:
        bids=lambda wildcards: BIDS_DIRS[wildcards.root],
        target=config["target"],
        modalities=" ".join(config["modalities"]),
        site=config["site_column"],
        run_policy=config["run_policy"],
        filters=settings_json(config["bids_filters"]),
        on_invalid=config["on_invalid"],
        options=target_options(config),
        optional=modality_options(config),
    shell:
        "python -m neuropeft validate-cohort --bids-dir {params.bids} --target {params.target} --modalities {params.modalities}"
        " --site-column {params.site} --run-policy {params.run_policy} --bids-filters {params.filters:q}"
        " --on-invalid {params.on_invalid} {params.options} {params.optional}"
        " --out-cohort {output.cohort} --out-excluded {output.excluded} 2> {log}"
