# Learning stage: subject-wise folds, then one fine-tuning job per experiment and fold.
from neuropeft.workflow import train_uses_gpu

FOLDS = list(range(config["folds"]["n_folds"]))
MODEL_INPUT = multiext(f"{RESULTS}/cohort/model_input", ".npy", ".tsv")


wildcard_constraints:
    experiment=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    fold=r"\d+",


rule folds:
    input:
        index=f"{RESULTS}/cohort/model_input.tsv",
    output:
        f"{RESULTS}/folds/folds.tsv",
    params:
        settings=settings_json({**config["folds"], "task": TASK}),
    benchmark:
        f"{RESULTS}/benchmarks/folds.tsv"
    log:
        f"{RESULTS}/logs/folds.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "{NP} folds --index {input.index} --out {output} --settings {params.settings:q} 2> {log}"


rule train:
    input:
        array=f"{RESULTS}/cohort/model_input.npy",
        index=f"{RESULTS}/cohort/model_input.tsv",
        folds=f"{RESULTS}/folds/folds.tsv",
    output:
        predictions=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/predictions.tsv",
        history=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/history.tsv",
        run=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/run.json",
    params:
        settings=lambda wildcards: settings_json(EXPERIMENTS[wildcards.experiment]),
        device=config["device"],
        out_dir=lambda wildcards, output: os.path.dirname(output.predictions),
    threads: config["threads"]["train"]
    resources:
        gpu=1 if train_uses_gpu(config) else 0,
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}_fold-{{fold}}.tsv"
    log:
        f"{RESULTS}/logs/train/{{experiment}}_fold-{{fold}}.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "{NP} train --array {input.array} --index {input.index} --folds {input.folds} --fold {wildcards.fold}"
        " --out-dir {params.out_dir} --device {params.device} --settings {params.settings:q} 2> {log}"
