# The built-in demo cohort, synthesised when no bids_dir is configured: one job per subject (a
# wildcard rule, so the DAG stays cheap for large cohorts) and one for the dataset-level files.
from neuropeft.demo.layout import demo_dir_of
from neuropeft.workflow import DEMO_DATASET_FILES, DEMO_SUBJECT_FILES

if uses_demo(config):

    rule demo_cohort_subject:
        output:
            **{field: pattern.replace("{sub}", "{demo_sub}") for field, pattern in DEMO_SUBJECT_FILES.items()},
        log:
            f"{RESULTS}/logs/demo_cohort_subject/{{demo_sub}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/demo_cohort_subject/{{demo_sub}}.tsv"
        wildcard_constraints:
            demo_sub=r"sub-[0-9]+",
        group:
            "subject"
        conda:
            "../../envs/preproc.yaml"
        params:
            out=lambda wildcards, output: demo_dir_of(output[0]),
            # a subject does not depend on the cohort size: adding subjects leaves the others alone
            settings=settings_json({k: v for k, v in config["demo"].items() if k != "n_subjects"}),
        shell:
            "python -m neuropeft demo-cohort --out {params.out} --subject {wildcards.demo_sub} --settings {params.settings:q} 2> {log}"

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
            settings=settings_json(config["demo"]),
        shell:
            "python -m neuropeft demo-cohort --out {params.out} --dataset-only --settings {params.settings:q} 2> {log}"
