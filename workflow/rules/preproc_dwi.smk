# DWI preprocessing, one job per subject (and session) and step, under results/preproc/{key}/dwi/.
DWI = f"{{root}}/preproc/{{key}}/dwi/{{stem}}"
TO_MNI = "to-MNI152NLin2009aSym"


rule n4_dwi:
    input:
        dwi=subject_input("dwi"),
        bval=subject_input("bval"),
    output:
        dwi=f"{DWI}_desc-n4_dwi.nii.gz",
        field=f"{DWI}_desc-biasfield_dwiref.nii.gz",
    log:
        f"{{root}}/logs/n4_dwi/{{key}}/{{stem}}.log",
    benchmark:
        f"{{root}}/benchmarks/n4_dwi/{{key}}/{{stem}}.tsv"
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["n4_dwi"],
        failure=failure_record("n4_dwi"),
    shell:
        "{NP} --failure-record {params.failure} n4-dwi --dwi {input.dwi} --bval {input.bval} --out {output.dwi} --field {output.field}"
        " --settings {params.settings:q} 2> {log}"


rule skullstrip_dwi:
    input:
        dwi=rules.n4_dwi.output.dwi,
        bval=subject_input("bval"),
    output:
        mask=f"{DWI}_desc-brain_mask.nii.gz",
        meanb0=f"{DWI}_desc-brain_dwiref.nii.gz",
    log:
        f"{{root}}/logs/skullstrip_dwi/{{key}}/{{stem}}.log",
    benchmark:
        f"{{root}}/benchmarks/skullstrip_dwi/{{key}}/{{stem}}.tsv"
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["skullstrip_dwi"],
        failure=failure_record("skullstrip_dwi"),
    shell:
        "{NP} --failure-record {params.failure} skullstrip-dwi --dwi {input.dwi} --bval {input.bval} --out-mask {output.mask}"
        " --out-meanb0 {output.meanb0} --settings {params.settings:q} 2> {log}"


rule fit_tensor:
    input:
        dwi=rules.n4_dwi.output.dwi,
        bval=subject_input("bval"),
        bvec=subject_input("bvec"),
        mask=rules.skullstrip_dwi.output.mask,
    output:
        multiext(f"{DWI}_model-DTI_", "FA.nii.gz", "MD.nii.gz", "AD.nii.gz", "RD.nii.gz", "colorFA.nii.gz"),
    log:
        f"{{root}}/logs/fit_tensor/{{key}}/{{stem}}.log",
    benchmark:
        f"{{root}}/benchmarks/fit_tensor/{{key}}/{{stem}}.tsv"
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["fit_tensor"],
        failure=failure_record("fit_tensor"),
        prefix=f"{DWI}_model-DTI",
    shell:
        "{NP} --failure-record {params.failure} fit-tensor --dwi {input.dwi} --bval {input.bval} --bvec {input.bvec} --mask {input.mask}"
        " --out-prefix {params.prefix} --settings {params.settings:q} 2> {log}"


rule register_dwi:
    input:
        rules.skullstrip_dwi.output.meanb0,
    output:
        transforms=f"{DWI}_from-dwiref_{TO_MNI}_transforms.json",
        registered=f"{DWI}_from-dwiref_{TO_MNI}_space-MNI152NLin2009aSym_b0.nii.gz",
    log:
        f"{{root}}/logs/register_dwi/{{key}}/{{stem}}.log",
    benchmark:
        f"{{root}}/benchmarks/register_dwi/{{key}}/{{stem}}.tsv"
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["register_dwi"],
        failure=failure_record("register_dwi"),
        prefix=f"{DWI}_from-dwiref_{TO_MNI}",
    shell:
        "{NP} --failure-record {params.failure} register --moving {input} --modality dwi --out-prefix {params.prefix}"
        " --settings {params.settings:q} 2> {log}"


rule resample_dwi:
    input:
        fa=f"{DWI}_model-DTI_FA.nii.gz",
        md=f"{DWI}_model-DTI_MD.nii.gz",
        mask=rules.skullstrip_dwi.output.mask,
        transforms=rules.register_dwi.output.transforms,
    output:
        f"{{root}}/model_input/{{key}}/{{stem}}_space-MNI152NLin2009aSym_desc-dwi_model.nii.gz",
    log:
        f"{{root}}/logs/resample_dwi/{{key}}/{{stem}}.log",
    benchmark:
        f"{{root}}/benchmarks/resample_dwi/{{key}}/{{stem}}.tsv"
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    threads: config["threads"]["preproc"]
    params:
        settings=STEP_SETTINGS["resample_dwi"],
        failure=failure_record("resample_dwi"),
    shell:
        "{NP} --failure-record {params.failure} resample --image {input.fa} --image {input.md} --mask {input.mask}"
        " --transforms-json {input.transforms} --out {output} --settings {params.settings:q} 2> {log}"


rule qc_subject_dwi:
    input:
        dwi=rules.n4_dwi.output.dwi,
        mask=rules.skullstrip_dwi.output.mask,
        registered=rules.register_dwi.output.registered,
        color_fa=f"{DWI}_model-DTI_colorFA.nii.gz",
    output:
        n4=report(
            f"{{root}}/qc/{{key}}/{{stem}}_dwi_n4.png",
            caption="../report/qc_n4.rst",
            category="QC",
            subcategory="{stem}",
        ),
        mask=report(
            f"{{root}}/qc/{{key}}/{{stem}}_dwi_mask.png",
            caption="../report/qc_mask.rst",
            category="QC",
            subcategory="{stem}",
        ),
        registration=report(
            f"{{root}}/qc/{{key}}/{{stem}}_dwi_registration.png",
            caption="../report/qc_registration.rst",
            category="QC",
            subcategory="{stem}",
        ),
        color_fa=report(
            f"{{root}}/qc/{{key}}/{{stem}}_dwi_colorFA.png",
            caption="../report/qc_colorfa.rst",
            category="QC",
            subcategory="{stem}",
        ),
    log:
        f"{{root}}/logs/qc_dwi/{{key}}/{{stem}}.log",
    benchmark:
        f"{{root}}/benchmarks/qc_dwi/{{key}}/{{stem}}.tsv"
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    shell:
        "{NP} qc-subject --subject {wildcards.stem} --modality dwi --corrected {input.dwi} --mask {input.mask}"
        " --registered {input.registered} --color-fa {input.color_fa} --out-n4 {output.n4} --out-mask {output.mask}"
        " --out-registration {output.registration} --out-color-fa {output.color_fa} 2> {log}"
