# Learning stage: subject-wise folds, then one fine-tuning job per experiment and fold.
from neuropeft.workflow import (
    federated_experiments,
    fold_numbers,
    fold_settings,
    init_checkpoints,
    multi_modal,
    names_pattern,
    pretrain_settings,
    run_grids,
    train_uses_gpu,
)

# an images table with a split column: one fixed train/val/test split (fold 0) instead of k folds
FIXED_SPLIT = bool(IMAGES_TABLE) and IMAGES.fixed_split
FOLDS = fold_numbers(config, FIXED_SPLIT)
try:
    PRETRAIN = pretrain_settings(config)
    INIT = {name: init_checkpoints(e, PRETRAIN, RESULTS) for name, e in EXPERIMENTS.items()}
    # the grid tag of each experiment's / pre-training run's model input (its cohort stack)
    EXPERIMENT_GRID, PRETRAIN_GRID = run_grids(EXPERIMENTS, PRETRAIN, model_grids(config))
    FEDERATED = federated_experiments(EXPERIMENTS, config, FIXED_SPLIT)
except NeuropeftError as error:
    sys.exit(f"neuropeft: {error}")

# the experiments compared by input modalities (a multi-modal stack; federated runs record no input shape)
MODALITY_EXPERIMENTS = (
    [e for e in EXPERIMENTS if e not in FEDERATED] if multi_modal(config) and not SEGMENTATION else []
)


wildcard_constraints:
    experiment=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    pretrain=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    fold=r"\d+",


rule folds:
    input:
        index=f"{RESULTS}/cohort/model_input.tsv",
    output:
        f"{RESULTS}/folds/folds.tsv",
    log:
        f"{RESULTS}/logs/folds.log",
    benchmark:
        f"{RESULTS}/benchmarks/folds.tsv"
    conda:
        "../../envs/learn.yaml"
    params:
        settings=settings_json(fold_settings(config, TASK, FEDERATED, FIXED_SPLIT)),
    shell:
        "python -m neuropeft folds --index {input.index} --out {output} --settings {params.settings:q} 2> {log}"


rule train:
    input:
        array=model_input(RESULTS, EXPERIMENT_GRID, "experiment", ".npy"),
        index=model_input(RESULTS, EXPERIMENT_GRID, "experiment", ".tsv"),
        folds=f"{RESULTS}/folds/folds.tsv",
        init=lambda wildcards: INIT[wildcards.experiment],
        # where an experiment with covariates reads them: participants.tsv, or the validated images table
        covariates=lambda wildcards: COVARIATES_TABLE if EXPERIMENTS[wildcards.experiment].get("covariates") else [],
        source=source_run,
    output:
        predictions=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/predictions.tsv",
        history=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/history.tsv",
        run=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/run.json",
    log:
        f"{RESULTS}/logs/train/{{experiment}}_fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}_fold-{{fold}}.tsv"
    wildcard_constraints:
        experiment=names_pattern([e for e in EXPERIMENTS if e not in FEDERATED and not SEGMENTATION]),
    conda:
        "../../envs/learn.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=1 if train_uses_gpu(config) else 0,
    params:
        settings=lambda wildcards: settings_json(EXPERIMENTS[wildcards.experiment]),
        device=config["device"],
        out_dir=lambda wildcards, output: os.path.dirname(output.predictions),
        init=lambda wildcards, input: f"--init-checkpoint {input.init}" if input.init else "",
        covariates=lambda wildcards, input: (f"--covariates-table {input.covariates}" if input.covariates else ""),
        source=lambda wildcards, input: f"--source-model {os.path.dirname(input.source[0])}" if input.source else "",
    shell:
        "python -m neuropeft train --array {input.array} --index {input.index} --folds {input.folds} --fold {wildcards.fold}"
        " --out-dir {params.out_dir} --device {params.device} {params.init} {params.covariates} {params.source}"
        " --settings {params.settings:q} 2> {log}"


rule pretrain:
    input:
        array=model_input(RESULTS, PRETRAIN_GRID, "pretrain", ".npy"),
        index=model_input(RESULTS, PRETRAIN_GRID, "pretrain", ".tsv"),
    output:
        backbone=f"{RESULTS}/pretrain/{{pretrain}}/backbone.safetensors",
        history=f"{RESULTS}/pretrain/{{pretrain}}/history.tsv",
        run=f"{RESULTS}/pretrain/{{pretrain}}/run.json",
    log:
        f"{RESULTS}/logs/pretrain/{{pretrain}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretrain/{{pretrain}}.tsv"
    conda:
        "../../envs/learn.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=1 if train_uses_gpu(config) else 0,
    params:
        settings=lambda wildcards: settings_json(PRETRAIN[wildcards.pretrain]),
        device=config["device"],
        out_dir=lambda wildcards, output: os.path.dirname(output.backbone),
    shell:
        "python -m neuropeft pretrain --array {input.array} --index {input.index} --out-dir {params.out_dir}"
        " --device {params.device} --settings {params.settings:q} 2> {log}"


rule federate:
    input:
        array=model_input(RESULTS, EXPERIMENT_GRID, "experiment", ".npy"),
        index=model_input(RESULTS, EXPERIMENT_GRID, "experiment", ".tsv"),
        folds=f"{RESULTS}/folds/folds.tsv",
        init=lambda wildcards: INIT[wildcards.experiment],
    output:
        predictions=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/predictions.tsv",
        history=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/history.tsv",
        run=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/run.json",
        rounds=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/rounds.tsv",
        client_weights=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/client_weights.tsv",
    log:
        f"{RESULTS}/logs/federate/{{experiment}}_fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/federate/{{experiment}}_fold-{{fold}}.tsv"
    wildcard_constraints:
        experiment=names_pattern(FEDERATED),
    conda:
        "../../envs/learn.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=1 if train_uses_gpu(config) else 0,
    params:
        settings=lambda wildcards: settings_json(EXPERIMENTS[wildcards.experiment]),
        device=config["device"],
        out_dir=lambda wildcards, output: os.path.dirname(output.predictions),
        init=lambda wildcards, input: f"--init-checkpoint {input.init}" if input.init else "",
    shell:
        "python -m neuropeft federate --array {input.array} --index {input.index} --folds {input.folds}"
        " --fold {wildcards.fold} --out-dir {params.out_dir} --device {params.device} --cpus {threads} {params.init}"
        " --settings {params.settings:q} 2> {log}"


rule predict_inputs:
    input:
        array=model_input(RESULTS, EXPERIMENT_GRID, "experiment", ".npy"),
        index=model_input(RESULTS, EXPERIMENT_GRID, "experiment", ".tsv"),
        folds=f"{RESULTS}/folds/folds.tsv",
        run=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/run.json",
        source=source_run,
    output:
        f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/predictions_by_input.tsv",
    log:
        f"{RESULTS}/logs/predict_inputs/{{experiment}}_fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/predict_inputs/{{experiment}}_fold-{{fold}}.tsv"
    wildcard_constraints:
        experiment=names_pattern(MODALITY_EXPERIMENTS),
    conda:
        "../../envs/learn.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=1 if train_uses_gpu(config) else 0,
    params:
        device=config["device"],
        model_dir=lambda wildcards, input: os.path.dirname(input.run),
    shell:
        "python -m neuropeft predict-inputs --array {input.array} --index {input.index} --folds {input.folds}"
        " --model-dir {params.model_dir} --out {output} --device {params.device} 2> {log}"
