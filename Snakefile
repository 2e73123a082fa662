# neuropeft: BIDS diffusion/T1w MRI -> preprocessing -> folds -> PEFT of a 3D foundation model -> metrics.
# Thin on purpose: every step is a rule in workflow/rules/ calling `python -m neuropeft <step>`.
import os

from snakemake.utils import min_version, validate

min_version("9.0")


# Defaults beside this Snakefile (whatever the working directory); --configfile / --config override them.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, "config/schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/images_table.smk"
include: "workflow/rules/preproc_dwi.smk"
include: "workflow/rules/preproc_t1w.smk"
include: "workflow/rules/model_input.smk"
include: "workflow/rules/learn.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/segmentation.smk"
include: "workflow/rules/external.smk"


rule all:
    default_target: True
    input:
        final_outputs(),


onerror:
    # Which subjects failed on their data (records written by the failed jobs) and what to do next.
    from neuropeft.failures import current_failures, failure_summary

    for root, subjects in VALIDATED_SUBJECTS.items():
        failures = current_failures(f"{root}/failures", subjects, STEP_SETTINGS)
        summary = failure_summary(failures, config["on_subject_failure"], f"{root}/cohort/failures.tsv")
        if summary:
            print(summary, file=sys.stderr)
