# The built-in demo cohort, synthesised when no bids_dir is configured.
from neuropeft.workflow import DEMO_DIR, demo_files


if uses_demo(config):

    rule demo_cohort:
        output:
            demo_files(config),
        params:
            settings=settings_json(config["demo"]),
        threads: config["threads"]["demo"]
        benchmark:
            f"{RESULTS}/benchmarks/demo_cohort.tsv"
        log:
            f"{RESULTS}/logs/demo_cohort.log",
        shell:
            "{NP} demo-cohort --out {DEMO_DIR} --threads {threads} --settings {params.settings:q} 2> {log}"
