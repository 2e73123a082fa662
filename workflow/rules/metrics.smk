# Metrics per experiment (per fold, across folds, pooled with a bootstrap CI), plots and the comparison table.
METRICS = f"{RESULTS}/metrics"
PERFORMANCE_PLOT = {"classification": "roc", "survival": "kaplan_meier"}.get(TASK, "pred_vs_true")
# a classification's reliability diagram (calibration of the out-of-fold probabilities)
CALIBRATION_PLOT = (
    {
        "reliability": report(
            f"{METRICS}/{{experiment}}/reliability.png",
            caption="../report/reliability.rst",
            category="Calibration",
            subcategory="{experiment}",
        )
    }
    if TASK == "classification"
    else {}
)


rule aggregate_experiment:
    input:
        predictions=fold_files("predictions.tsv"),
        history=fold_files("history.tsv"),
        run=fold_files("run.json"),
    output:
        **CALIBRATION_PLOT,
        summary=f"{METRICS}/{{experiment}}/summary.json",
        folds=f"{METRICS}/{{experiment}}/fold_metrics.tsv",
        oof=f"{METRICS}/{{experiment}}/oof_predictions.tsv",
        performance=report(
            f"{METRICS}/{{experiment}}/{PERFORMANCE_PLOT}.png",
            caption="../report/performance.rst",
            category="Performance",
            subcategory="{experiment}",
        ),
        curves=report(
            f"{METRICS}/{{experiment}}/curves.png",
            caption="../report/curves.rst",
            category="Training curves",
            subcategory="{experiment}",
        ),
    log:
        f"{RESULTS}/logs/metrics/{{experiment}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/{{experiment}}.tsv"
    wildcard_constraints:
        experiment=names_pattern([] if SEGMENTATION else list(EXPERIMENTS)),
    conda:
        "../../envs/report.yaml"
    params:
        settings=settings_json(config["metrics"]),
        fold_dirs=lambda wildcards, input: " ".join(os.path.dirname(p) for p in input.predictions),
        out_dir=lambda wildcards, output: os.path.dirname(output.summary),
    shell:
        "python -m neuropeft aggregate-experiment --experiment {wildcards.experiment} --fold-dirs {params.fold_dirs}"
        " --out-dir {params.out_dir} --settings {params.settings:q} 2> {log}"


rule compare_experiments:
    input:
        **left_out_tables(),
        summaries=expand(f"{METRICS}/{{experiment}}/summary.json", experiment=EXPERIMENTS),
        runs=expand(f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/run.json", experiment=EXPERIMENTS, fold=FOLDS),
    output:
        tsv=f"{METRICS}/comparison.tsv",
        md=report(f"{METRICS}/comparison.md", caption="../report/comparison.rst", category="Comparison"),
    log:
        f"{RESULTS}/logs/metrics/compare.log",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/compare.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        settings=settings_json(config["metrics"]),
        left_out=lambda wildcards, input: " ".join(
            f"--{name.replace('_', '-')} {input[name]}" for name in left_out_tables()
        ),
    shell:
        "python -m neuropeft compare-experiments --summaries {input.summaries} --run-jsons {input.runs}"
        " {params.left_out} --out-tsv {output.tsv} --out-md {output.md} --settings {params.settings:q} 2> {log}"


rule modality_table:
    input:
        predictions=expand(
            f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/predictions_by_input.tsv",
            experiment=MODALITY_EXPERIMENTS,
            fold=FOLDS,
        ),
        runs=expand(
            f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/run.json", experiment=MODALITY_EXPERIMENTS, fold=FOLDS
        ),
    output:
        tsv=f"{METRICS}/modalities.tsv",
        md=report(f"{METRICS}/modalities.md", caption="../report/modalities.rst", category="Comparison"),
    log:
        f"{RESULTS}/logs/metrics/modalities.log",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/modalities.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        fold_dirs=lambda wildcards, input: " ".join(os.path.dirname(p) for p in input.predictions),
        decimals=config["metrics"]["decimals"],
    shell:
        "python -m neuropeft modality-table --fold-dirs {params.fold_dirs} --out-tsv {output.tsv} --out-md {output.md}"
        " --decimals {params.decimals} 2> {log}"


FRACTION_EXPERIMENTS = [name for name, e in EXPERIMENTS.items() if "train_fraction" in e]


rule plot_fractions:
    input:
        expand(f"{METRICS}/{{experiment}}/summary.json", experiment=FRACTION_EXPERIMENTS),
    output:
        png=report(f"{METRICS}/fractions.png", caption="../report/fractions.rst", category="Comparison"),
        svg=f"{METRICS}/fractions.svg",
        tsv=f"{METRICS}/fractions.tsv",
    log:
        f"{RESULTS}/logs/metrics/fractions.log",
    benchmark:
        f"{RESULTS}/benchmarks/plot_fractions.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        settings=settings_json(config["metrics"]),
    shell:
        "python -m neuropeft plot-fractions --summaries {input} --out-png {output.png} --out-svg {output.svg}"
        " --out-tsv {output.tsv} --settings {params.settings:q} 2> {log}"


rule record_run:
    output:
        f"{RESULTS}/provenance.json",
    log:
        f"{RESULTS}/logs/record_run.log",
    benchmark:
        f"{RESULTS}/benchmarks/record_run.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        config=settings_json(config),  # any configuration change rewrites the record
    shell:
        "python -m neuropeft record-run --config {params.config:q} --out {output} 2> {log}"


rule federation_figures:
    input:
        predictions=fold_files("predictions.tsv"),
        weights=fold_files("client_weights.tsv"),
    output:
        table=f"{METRICS}/{{experiment}}/site_auc.tsv",
        auc=report(
            f"{METRICS}/{{experiment}}/site_auc.png",
            caption="../report/site_auc.rst",
            category="Federation",
            subcategory="{experiment}",
        ),
        weights=report(
            f"{METRICS}/{{experiment}}/client_weights.png",
            caption="../report/client_weights.rst",
            category="Federation",
            subcategory="{experiment}",
        ),
    log:
        f"{RESULTS}/logs/metrics/{{experiment}}_federation.log",
    wildcard_constraints:
        experiment=names_pattern(FEDERATED),
    conda:
        "../../envs/report.yaml"
    params:
        settings=settings_json(config["metrics"]),
        fold_dirs=lambda wildcards, input: " ".join(os.path.dirname(p) for p in input.predictions),
        out_dir=lambda wildcards, output: os.path.dirname(output.table),
    shell:
        "python -m neuropeft federation-figures --experiment {wildcards.experiment} --fold-dirs {params.fold_dirs}"
        " --out-dir {params.out_dir} --settings {params.settings:q} 2> {log}"


rule site_intensities:
    input:
        array=f"{RESULTS}/cohort/model_input.npy",
        index=f"{RESULTS}/cohort/model_input.tsv",
    output:
        report(f"{METRICS}/site_intensities.png", caption="../report/site_intensities.rst", category="Federation"),
    log:
        f"{RESULTS}/logs/metrics/site_intensities.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "python -m neuropeft site-intensities --array {input.array} --index {input.index} --out {output} 2> {log}"
