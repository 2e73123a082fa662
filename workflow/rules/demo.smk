# The built-in demo cohort, synthesised when no bids_dir is configured: one job per subject (a
# wildcard rule, so the DAG stays cheap for large cohorts) and one for the dataset-level files.
from neuropeft.demo.layout import demo_dir_of
from neuropeft.workflow import DEMO_DATASET_FILES, DEMO_SUBJECT_FILES, demo_missing_dwi

if uses_demo(config):
    # the subjects written without DWI (demo.missing_dwi_fraction): a rule of their own, whose outputs leave it out
    DEMO_NO_DWI = demo_missing_dwi(config)
    DEMO_WITH_DWI = [s["participant_id"] for s in SUBJECTS if s["participant_id"] not in DEMO_NO_DWI]
    # a subject does not depend on the cohort size: adding subjects leaves the others alone
    DEMO_SUBJECT_SETTINGS = settings_json(
        {k: v for k, v in config["demo"].items() if k not in ("n_subjects", "missing_dwi_fraction")}
    )

    rule demo_cohort_subject:
        output:
            **{field: pattern.replace("{sub}", "{demo_sub}") for field, pattern in DEMO_SUBJECT_FILES.items()},
        log:
            f"{RESULTS}/logs/demo_cohort_subject/{{demo_sub}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/demo_cohort_subject/{{demo_sub}}.tsv"
        wildcard_constraints:
            demo_sub=names_pattern(DEMO_WITH_DWI) if DEMO_NO_DWI else r"sub-[0-9]+",
        group:
            "subject"
        conda:
            "../../envs/preproc.yaml"
        params:
            out=lambda wildcards, output: demo_dir_of(output[0]),
            settings=DEMO_SUBJECT_SETTINGS,
        shell:
            "python -m neuropeft demo-cohort --out {params.out} --subject {wildcards.demo_sub} --settings {params.settings:q} 2> {log}"

    rule demo_cohort_subject_without_dwi:
        output:
            **{
                field: pattern.replace("{sub}", "{demo_sub}")
                for field, pattern in DEMO_SUBJECT_FILES.items()
                if field not in MODALITY_FIELDS["dwi"]
            },
        log:
            f"{RESULTS}/logs/demo_cohort_subject/{{demo_sub}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/demo_cohort_subject/{{demo_sub}}.tsv"
        wildcard_constraints:
            demo_sub=names_pattern(DEMO_NO_DWI),
        group:
            "subject"
        conda:
            "../../envs/preproc.yaml"
        params:
            out=lambda wildcards, output: demo_dir_of(output[0]),
            settings=DEMO_SUBJECT_SETTINGS,
        shell:
            "python -m neuropeft demo-cohort --out {params.out} --subject {wildcards.demo_sub} --without-dwi"
            " --settings {params.settings:q} 2> {log}"

    rule demo_cohort_dataset:
        output:
            DEMO_DATASET_FILES,
        log:
            f"{RESULTS}/logs/demo_cohort_dataset.log",
        benchmark:
            f"{RESULTS}/benchmarks/demo_cohort_dataset.tsv"
        conda:
            "../../envs/preproc.yaml"
        params:
            out=lambda wildcards, output: demo_dir_of(output[0]),
            settings=settings_json({k: v for k, v in config["demo"].items() if k != "missing_dwi_fraction"}),
        shell:
            "python -m neuropeft demo-cohort --out {params.out} --dataset-only --settings {params.settings:q} 2> {log}"
