# External test set (config external_bids_dir): preprocessed by the same per-subject rules under
# results/external/, then scored by every fold's model and by their ensemble.
EXTERNAL_MODELS = f"{EXTERNAL}/models/{{experiment}}"
EXTERNAL_METRICS = f"{RESULTS}/metrics/external"


rule predict_external:
    input:
        array=model_input(EXTERNAL, EXPERIMENT_GRID, "experiment", ".npy"),
        index=model_input(EXTERNAL, EXPERIMENT_GRID, "experiment", ".tsv"),
        run=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/run.json",
        history=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/history.tsv",
    output:
        predictions=f"{EXTERNAL_MODELS}/fold-{{fold}}/predictions.tsv",
        # the model's own record, beside its predictions, for aggregation and the comparison table
        run=f"{EXTERNAL_MODELS}/fold-{{fold}}/run.json",
        history=f"{EXTERNAL_MODELS}/fold-{{fold}}/history.tsv",
    log:
        f"{RESULTS}/logs/predict_external/{{experiment}}_fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/predict_external/{{experiment}}_fold-{{fold}}.tsv"
    conda:
        "../../envs/learn.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=1 if train_uses_gpu(config) else 0,
    params:
        model_dir=lambda wildcards, input: os.path.dirname(input.run),
        device=config["device"],
    shell:
        "python -m neuropeft predict --array {input.array} --index {input.index} --model-dir {params.model_dir}"
        " --out {output.predictions} --device {params.device} 2> {log}"
        " && cp {input.run} {output.run} && cp {input.history} {output.history}"


rule ensemble_external:
    input:
        predictions=lambda wildcards: [
            f"{EXTERNAL}/models/{wildcards.experiment}/fold-{k}/predictions.tsv" for k in FOLDS
        ],
        # each fold model's record: its fitted decision threshold
        runs=lambda wildcards: [f"{EXTERNAL}/models/{wildcards.experiment}/fold-{k}/run.json" for k in FOLDS],
    output:
        f"{EXTERNAL_MODELS}/ensemble/predictions.tsv",
    log:
        f"{RESULTS}/logs/ensemble_external/{{experiment}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ensemble_external/{{experiment}}.tsv"
    conda:
        "../../envs/report.yaml"
    shell:
        "python -m neuropeft ensemble --predictions {input.predictions} --run-jsons {input.runs} --out {output}"
        " 2> {log}"


rule aggregate_experiment_external:
    input:
        predictions=lambda wildcards: [
            f"{EXTERNAL}/models/{wildcards.experiment}/fold-{k}/predictions.tsv" for k in FOLDS
        ],
    output:
        summary=f"{EXTERNAL_METRICS}/{{experiment}}/summary.json",
        performance=report(
            f"{EXTERNAL_METRICS}/{{experiment}}/{PERFORMANCE_PLOT}.png",
            caption="../report/external.rst",
            category="External test set",
            subcategory="{experiment}",
        ),
    log:
        f"{RESULTS}/logs/aggregate_external/{{experiment}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/aggregate_external/{{experiment}}.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        settings=settings_json(config["metrics"]),
        fold_dirs=lambda wildcards, input: " ".join(os.path.dirname(p) for p in input.predictions),
        out_dir=lambda wildcards, output: os.path.dirname(output.summary),
    shell:
        "python -m neuropeft aggregate-experiment --experiment {wildcards.experiment} --fold-dirs {params.fold_dirs}"
        " --out-dir {params.out_dir} --settings {params.settings:q} 2> {log}"


rule score_external_ensemble:
    input:
        rules.ensemble_external.output,
    output:
        f"{EXTERNAL_METRICS}/{{experiment}}/ensemble_summary.json",
    log:
        f"{RESULTS}/logs/score_external_ensemble/{{experiment}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/score_external_ensemble/{{experiment}}.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        settings=settings_json(config["metrics"]),
    shell:
        "python -m neuropeft score --predictions {input} --name {wildcards.experiment}/ensemble --out {output}"
        " --settings {params.settings:q} 2> {log}"


rule compare_experiments_external:
    input:
        summaries=expand(f"{EXTERNAL_METRICS}/{{experiment}}/summary.json", experiment=EXPERIMENTS),
        runs=expand(f"{EXTERNAL_MODELS}/fold-{{fold}}/run.json", experiment=EXPERIMENTS, fold=FOLDS),
        ensembles=expand(f"{EXTERNAL_METRICS}/{{experiment}}/ensemble_summary.json", experiment=EXPERIMENTS),
    output:
        tsv=f"{RESULTS}/metrics/comparison_external.tsv",
        md=report(
            f"{RESULTS}/metrics/comparison_external.md", caption="../report/external.rst", category="External test set"
        ),
    log:
        f"{RESULTS}/logs/compare_external.log",
    benchmark:
        f"{RESULTS}/benchmarks/compare_external.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        settings=settings_json(config["metrics"]),
    shell:
        "python -m neuropeft compare-experiments --summaries {input.summaries} --run-jsons {input.runs}"
        " --out-tsv {output.tsv} --out-md {output.md} --settings {params.settings:q} 2> {log}"
