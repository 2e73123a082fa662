# Index and validate the BIDS dataset: the validated cohort table and excluded.tsv.


rule validate_cohort:
    input:
        f"{BIDS}/participants.tsv",
        raw_inputs(),
    output:
        cohort=f"{RESULTS}/cohort/cohort.tsv",
        excluded=f"{RESULTS}/cohort/excluded.tsv",
    params:
        target=config["target"],
        modalities=" ".join(config["modalities"]),
        site=config["site_column"],
        run_policy=config["run_policy"],
        on_invalid=config["on_invalid"],
    benchmark:
        f"{RESULTS}/benchmarks/validate_cohort.tsv"
    log:
        f"{RESULTS}/logs/validate_cohort.log",
    shell:
        "{NP} validate --bids-dir {BIDS} --target {params.target} --modalities {params.modalities}"
        " --site-column {params.site} --run-policy {params.run_policy} --on-invalid {params.on_invalid}"
        " --out-cohort {output.cohort} --out-excluded {output.excluded} 2> {log}"
