# DWI preprocessing, one job per subject (and session) and step, under results/preproc/{subject_dir}/dwi/.


rule n4_dwi:
    input:
        dwi=subject_input("dwi"),
        bval=subject_input("bval"),
    output:
        dwi=bids_path("preproc", "dwi", "dwi", desc="n4"),
        field=bids_path("preproc", "dwi", "dwiref", desc="biasfield"),
    log:
        subject_log("n4_dwi"),
    benchmark:
        subject_benchmark("n4_dwi")
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["n4_dwi"],
        failure=failure_record("n4_dwi"),
    shell:
        "python -m neuropeft --failure-record {params.failure} n4-dwi --dwi {input.dwi} --bval {input.bval}"
        " --out {output.dwi} --field {output.field} --settings {params.settings:q} 2> {log}"


rule skullstrip_dwi:
    input:
        dwi=rules.n4_dwi.output.dwi,
        bval=subject_input("bval"),
    output:
        mask=bids_path("preproc", "dwi", "mask", desc="brain"),
        meanb0=bids_path("preproc", "dwi", "dwiref", desc="brain"),
    log:
        subject_log("skullstrip_dwi"),
    benchmark:
        subject_benchmark("skullstrip_dwi")
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["skullstrip_dwi"],
        failure=failure_record("skullstrip_dwi"),
    shell:
        "python -m neuropeft --failure-record {params.failure} skullstrip-dwi --dwi {input.dwi} --bval {input.bval}"
        " --out-mask {output.mask} --out-meanb0 {output.meanb0} --settings {params.settings:q} 2> {log}"


rule fit_tensor:
    input:
        dwi=rules.n4_dwi.output.dwi,
        bval=subject_input("bval"),
        bvec=subject_input("bvec"),
        mask=rules.skullstrip_dwi.output.mask,
    output:
        multiext(
            bids_path("preproc", "dwi", "", extension="", model="DTI"),
            fa="FA.nii.gz",
            md="MD.nii.gz",
            ad="AD.nii.gz",
            rd="RD.nii.gz",
            color_fa="colorFA.nii.gz",
        ),
    log:
        subject_log("fit_tensor"),
    benchmark:
        subject_benchmark("fit_tensor")
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["fit_tensor"],
        failure=failure_record("fit_tensor"),
    shell:
        "python -m neuropeft --failure-record {params.failure} fit-tensor --dwi {input.dwi} --bval {input.bval}"
        " --bvec {input.bvec} --mask {input.mask} --out-fa {output.fa} --out-md {output.md} --out-ad {output.ad}"
        " --out-rd {output.rd} --out-color-fa {output.color_fa} --settings {params.settings:q} 2> {log}"


rule register_dwi:
    input:
        rules.skullstrip_dwi.output.meanb0,
    output:
        transforms=bids_path("preproc", "dwi", "transforms", ".json", from_="dwiref", to=TEMPLATE_SPACE),
        registered=bids_path("preproc", "dwi", "b0", from_="dwiref", to=TEMPLATE_SPACE, space=TEMPLATE_SPACE),
    log:
        subject_log("register_dwi"),
    benchmark:
        subject_benchmark("register_dwi")
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["register_dwi"],
        failure=failure_record("register_dwi"),
    shell:
        "python -m neuropeft --failure-record {params.failure} register --moving {input} --modality dwi"
        " --out-transforms {output.transforms} --out-registered {output.registered}"
        " --settings {params.settings:q} 2> {log}"


rule resample_dwi:
    input:
        fa=rules.fit_tensor.output.fa,
        md=rules.fit_tensor.output.md,
        mask=rules.skullstrip_dwi.output.mask,
        transforms=rules.register_dwi.output.transforms,
    output:
        model_input_path("dwi"),
    log:
        subject_log("resample_dwi", "{grid_tag}"),
    benchmark:
        subject_benchmark("resample_dwi", "{grid_tag}")
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=lambda wildcards: STEP_SETTINGS[f"resample_dwi{wildcards.grid_tag}"],
        failure=failure_record("resample_dwi{grid_tag}"),
    shell:
        "python -m neuropeft --failure-record {params.failure} resample --image {input.fa} --image {input.md}"
        " --mask {input.mask} --transforms-json {input.transforms} --out {output}"
        " --settings {params.settings:q} 2> {log}"


rule qc_subject_dwi:
    input:
        dwi=rules.n4_dwi.output.dwi,
        mask=rules.skullstrip_dwi.output.mask,
        registered=rules.register_dwi.output.registered,
        color_fa=rules.fit_tensor.output.color_fa,
        transforms=rules.register_dwi.output.transforms,
        fa=rules.fit_tensor.output.fa,
        md=rules.fit_tensor.output.md,
    output:
        metrics=bids_path("qc", "", "dwi_qc", ".json"),
        n4=report(
            bids_path("qc", "", "dwi_n4", ".png"),
            caption="../report/qc_n4.rst",
            category="QC",
            subcategory="{file_prefix}",
        ),
        mask=report(
            bids_path("qc", "", "dwi_mask", ".png"),
            caption="../report/qc_mask.rst",
            category="QC",
            subcategory="{file_prefix}",
        ),
        registration=report(
            bids_path("qc", "", "dwi_registration", ".png"),
            caption="../report/qc_registration.rst",
            category="QC",
            subcategory="{file_prefix}",
        ),
        color_fa=report(
            bids_path("qc", "", "dwi_colorFA", ".png"),
            caption="../report/qc_colorfa.rst",
            category="QC",
            subcategory="{file_prefix}",
        ),
    log:
        subject_log("qc_subject_dwi"),
    benchmark:
        subject_benchmark("qc_subject_dwi")
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    params:
        settings=QC_METRICS_SETTINGS,
    shell:
        "python -m neuropeft qc-subject --subject {wildcards.file_prefix} --modality dwi --corrected {input.dwi}"
        " --mask {input.mask} --registered {input.registered} --color-fa {input.color_fa} --out-n4 {output.n4}"
        " --out-mask {output.mask} --out-registration {output.registration} --out-color-fa {output.color_fa}"
        " --transforms {input.transforms} --fa {input.fa} --md {input.md} --out-metrics {output.metrics}"
        " --settings {params.settings:q} 2> {log}"
