# Images prepared elsewhere (config images_table): the table validated (every problem at once; the
# rows excluded listed in cohort/excluded.tsv) and its images stacked on each model grid, in place of
# BIDS validation and preprocessing. The learning stage reads the same cohort stack either way.


rule validate_table:
    input:
        table=IMAGES_TABLE or [],
        images=IMAGES.image_paths() if IMAGES_TABLE else [],
    output:
        cohort="{root}/cohort/cohort.tsv",
        excluded="{root}/cohort/excluded.tsv",
    log:
        "{root}/logs/validate_table.log",
    benchmark:
        "{root}/benchmarks/validate_table.tsv"
    wildcard_constraints:
        root=TABLE_ROOTS,
    conda:
        "../../envs/preproc.yaml"
    params:
        target=config["target"],
        site=config["site_column"],
        task=TASK,
        options=target_options(config),
    shell:
        "python -m neuropeft validate-table --table {input.table} --target {params.target} --site-column {params.site:q}"
        " --task {params.task} {params.options}"
        " --out-cohort {output.cohort} --out-excluded {output.excluded} 2> {log}"


rule stack_table:
    input:
        cohort="{root}/cohort/cohort.tsv",
    output:
        array="{root}/cohort/model_input{grid_tag}.npy",
        index="{root}/cohort/model_input{grid_tag}.tsv",
    log:
        "{root}/logs/stack_table{grid_tag}.log",
    benchmark:
        "{root}/benchmarks/stack_table{grid_tag}.tsv"
    wildcard_constraints:
        root=TABLE_ROOTS,
    conda:
        "../../envs/preproc.yaml"
    params:
        # the model grid's voxel size, shape and MD scale with the table's own options
        settings=lambda wildcards: settings_json(
            {
                **config["images_table_options"],
                **{key: GRIDS[wildcards.grid_tag][key] for key in ("voxel_mm", "shape", "md_scale")},
            }
        ),
    shell:
        "python -m neuropeft stack-table --table {input.cohort} --target target --out-array {output.array}"
        " --out-index {output.index} --settings {params.settings:q} 2> {log}"
