# T1w preprocessing, one job per subject (and session) and step, under results/preproc/{subject_dir}/anat/.


rule n4_t1w:
    input:
        subject_input("t1w"),
    output:
        t1w=bids_path("preproc", "anat", "T1w", desc="n4"),
        field=bids_path("preproc", "anat", "T1w", desc="biasfield"),
    log:
        subject_log("n4_t1w"),
    benchmark:
        subject_benchmark("n4_t1w")
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["n4_t1w"],
        failure=failure_record("n4_t1w"),
    shell:
        "python -m neuropeft --failure-record {params.failure} n4-t1w --t1w {input} --out {output.t1w}"
        " --field {output.field} --settings {params.settings:q} 2> {log}"


rule skullstrip_t1w:
    input:
        rules.n4_t1w.output.t1w,
    output:
        mask=bids_path("preproc", "anat", "mask", desc="brain"),
        brain=bids_path("preproc", "anat", "T1w", desc="brain"),
    log:
        subject_log("skullstrip_t1w"),
    benchmark:
        subject_benchmark("skullstrip_t1w")
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["skullstrip_t1w"],
        failure=failure_record("skullstrip_t1w"),
    shell:
        "python -m neuropeft --failure-record {params.failure} skullstrip-t1w --t1w {input} --out-mask {output.mask}"
        " --out-brain {output.brain} --settings {params.settings:q} 2> {log}"


rule register_t1w:
    input:
        rules.skullstrip_t1w.output.brain,
    output:
        transforms=bids_path("preproc", "anat", "transforms", ".json", from_="T1w", to=TEMPLATE_SPACE),
        registered=bids_path("preproc", "anat", "T1w", from_="T1w", to=TEMPLATE_SPACE, space=TEMPLATE_SPACE),
    log:
        subject_log("register_t1w"),
    benchmark:
        subject_benchmark("register_t1w")
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["register_t1w"],
        failure=failure_record("register_t1w"),
    shell:
        "python -m neuropeft --failure-record {params.failure} register --moving {input} --modality t1w"
        " --out-transforms {output.transforms} --out-registered {output.registered}"
        " --settings {params.settings:q} 2> {log}"


rule resample_t1w:
    input:
        brain=rules.skullstrip_t1w.output.brain,
        mask=rules.skullstrip_t1w.output.mask,
        transforms=rules.register_t1w.output.transforms,
    output:
        model_input_path("t1w"),
    log:
        subject_log("resample_t1w", "{grid_tag}"),
    benchmark:
        subject_benchmark("resample_t1w", "{grid_tag}")
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=lambda wildcards: STEP_SETTINGS[f"resample_t1w{wildcards.grid_tag}"],
        failure=failure_record("resample_t1w{grid_tag}"),
    shell:
        "python -m neuropeft --failure-record {params.failure} resample --image {input.brain} --mask {input.mask}"
        " --transforms-json {input.transforms} --out {output} --settings {params.settings:q} 2> {log}"


rule qc_subject_t1w:
    input:
        t1w=rules.n4_t1w.output.t1w,
        mask=rules.skullstrip_t1w.output.mask,
        registered=rules.register_t1w.output.registered,
        transforms=rules.register_t1w.output.transforms,
    output:
        metrics=bids_path("qc", "", "t1w_qc", ".json"),
        n4=report(
            bids_path("qc", "", "T1w_n4", ".png"),
            caption="../report/qc_n4.rst",
            category="QC",
            subcategory="{file_prefix}",
        ),
        mask=report(
            bids_path("qc", "", "T1w_mask", ".png"),
            caption="../report/qc_mask.rst",
            category="QC",
            subcategory="{file_prefix}",
        ),
        registration=report(
            bids_path("qc", "", "T1w_registration", ".png"),
            caption="../report/qc_registration.rst",
            category="QC",
            subcategory="{file_prefix}",
        ),
    log:
        subject_log("qc_subject_t1w"),
    benchmark:
        subject_benchmark("qc_subject_t1w")
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    params:
        settings=QC_METRICS_SETTINGS,
    shell:
        "python -m neuropeft qc-subject --subject {wildcards.file_prefix} --modality t1w --corrected {input.t1w}"
        " --mask {input.mask} --registered {input.registered} --out-n4 {output.n4} --out-mask {output.mask}"
        " --out-registration {output.registration} --transforms {input.transforms} --out-metrics {output.metrics}"
        " --settings {params.settings:q} 2> {log}"
