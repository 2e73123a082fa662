# T1w preprocessing, one job per subject (and session) and step, under results/preproc/{key}/anat/.
ANAT = f"{{root}}/preproc/{{key}}/anat/{{stem}}"


rule n4_t1w:
    input:
        subject_input("t1w"),
    output:
        t1w=f"{ANAT}_desc-n4_T1w.nii.gz",
        field=f"{ANAT}_desc-biasfield_T1w.nii.gz",
    log:
        f"{{root}}/logs/n4_t1w/{{key}}/{{stem}}.log",
    benchmark:
        f"{{root}}/benchmarks/n4_t1w/{{key}}/{{stem}}.tsv"
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["n4_t1w"],
        failure=failure_record("n4_t1w"),
    shell:
        "{NP} --failure-record {params.failure} n4-t1w --t1w {input} --out {output.t1w} --field {output.field} --settings {params.settings:q} 2> {log}"


rule skullstrip_t1w:
    input:
        rules.n4_t1w.output.t1w,
    output:
        mask=f"{ANAT}_desc-brain_mask.nii.gz",
        brain=f"{ANAT}_desc-brain_T1w.nii.gz",
    log:
        f"{{root}}/logs/skullstrip_t1w/{{key}}/{{stem}}.log",
    benchmark:
        f"{{root}}/benchmarks/skullstrip_t1w/{{key}}/{{stem}}.tsv"
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["skullstrip_t1w"],
        failure=failure_record("skullstrip_t1w"),
    shell:
        "{NP} --failure-record {params.failure} skullstrip-t1w --t1w {input} --out-mask {output.mask} --out-brain {output.brain}"
        " --settings {params.settings:q} 2> {log}"


rule register_t1w:
    input:
        rules.skullstrip_t1w.output.brain,
    output:
        transforms=f"{ANAT}_from-T1w_{TO_MNI}_transforms.json",
        registered=f"{ANAT}_from-T1w_{TO_MNI}_space-MNI152NLin2009aSym_T1w.nii.gz",
    log:
        f"{{root}}/logs/register_t1w/{{key}}/{{stem}}.log",
    benchmark:
        f"{{root}}/benchmarks/register_t1w/{{key}}/{{stem}}.tsv"
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["register_t1w"],
        failure=failure_record("register_t1w"),
        prefix=f"{ANAT}_from-T1w_{TO_MNI}",
    shell:
        "{NP} --failure-record {params.failure} register --moving {input} --modality t1w --out-prefix {params.prefix}"
        " --settings {params.settings:q} 2> {log}"


rule resample_t1w:
    input:
        brain=rules.skullstrip_t1w.output.brain,
        mask=rules.skullstrip_t1w.output.mask,
        transforms=rules.register_t1w.output.transforms,
    output:
        f"{{root}}/model_input/{{key}}/{{stem}}_space-MNI152NLin2009aSym_desc-t1w_model.nii.gz",
    log:
        f"{{root}}/logs/resample_t1w/{{key}}/{{stem}}.log",
    benchmark:
        f"{{root}}/benchmarks/resample_t1w/{{key}}/{{stem}}.tsv"
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["resample_t1w"],
        failure=failure_record("resample_t1w"),
    shell:
        "{NP} --failure-record {params.failure} resample --image {input.brain} --mask {input.mask} --transforms-json {input.transforms}"
        " --out {output} --settings {params.settings:q} 2> {log}"


rule qc_subject_t1w:
    input:
        t1w=rules.n4_t1w.output.t1w,
        mask=rules.skullstrip_t1w.output.mask,
        registered=rules.register_t1w.output.registered,
    output:
        n4=report(
            f"{{root}}/qc/{{key}}/{{stem}}_T1w_n4.png",
            caption="../report/qc_n4.rst",
            category="QC",
            subcategory="{stem}",
        ),
        mask=report(
            f"{{root}}/qc/{{key}}/{{stem}}_T1w_mask.png",
            caption="../report/qc_mask.rst",
            category="QC",
            subcategory="{stem}",
        ),
        registration=report(
            f"{{root}}/qc/{{key}}/{{stem}}_T1w_registration.png",
            caption="../report/qc_registration.rst",
            category="QC",
            subcategory="{stem}",
        ),
    log:
        f"{{root}}/logs/qc_t1w/{{key}}/{{stem}}.log",
    benchmark:
        f"{{root}}/benchmarks/qc_t1w/{{key}}/{{stem}}.tsv"
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    shell:
        "{NP} qc-subject --subject {wildcards.stem} --modality t1w --corrected {input.t1w} --mask {input.mask}"
        " --registered {input.registered} --out-n4 {output.n4} --out-mask {output.mask}"
        " --out-registration {output.registration} 2> {log}"
