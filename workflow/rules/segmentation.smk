# Segmentation (task: segmentation): each subject's label map carried onto the model grid by its T1w
# registration (label-preserving) and stacked beside the images; one fine-tuning job per experiment
# and fold; Dice and HD95 per class; the predictions put back into each subject's native T1w space
# as BIDS derivatives (results/segmentations/<experiment>/).
from neuropeft.workflow import label_groups, segmentation_labels

try:
    LABEL_MAPS = segmentation_labels(config, VALIDATED_SUBJECTS[RESULTS]) if SEGMENTATION else {}
except NeuropeftError as error:
    sys.exit(f"neuropeft: {error}")
LABEL_GROUPS = label_groups(config)
# the experiment wildcard of the segmentation rules: every experiment when the task is segmentation
SEGMENTERS = names_pattern(list(EXPERIMENTS) if SEGMENTATION else [])
GROUPS_ARGUMENT = f"--groups {LABEL_GROUPS}" if LABEL_GROUPS else ""


rule resample_labels:
    input:
        labels=lambda wildcards: LABEL_MAPS[wildcards.file_prefix],
        transforms=rules.register_t1w.output.transforms,
        groups=LABEL_GROUPS or [],
    output:
        bids_path("model_input", "", "dseg", space=f"{TEMPLATE_SPACE}{{grid_tag}}", desc="labels"),
    log:
        subject_log("resample_labels", "{grid_tag}"),
    benchmark:
        subject_benchmark("resample_labels", "{grid_tag}")
    wildcard_constraints:
        root=RESULTS,
    group:
        "subject"
    conda:
        "../../envs/preproc.yaml"
    params:
        settings=lambda wildcards: settings_json({k: GRIDS[wildcards.grid_tag][k] for k in ("voxel_mm", "shape")}),
        groups=GROUPS_ARGUMENT,
    shell:
        "python -m neuropeft resample-labels --labels {input.labels} --transforms-json {input.transforms}"
        " {params.groups} --out {output} --settings {params.settings:q} 2> {log}"


rule stack_labels:
    input:
        labels=lambda wildcards: per_subject(rules.resample_labels.output[0].replace("{grid_tag}", wildcards.grid_tag)),
        index="{root}/cohort/model_input{grid_tag}.tsv",
        cohort=rules.validate_cohort.output.cohort,
        groups=LABEL_GROUPS or [],
    output:
        array="{root}/cohort/labels{grid_tag}.npy",
        classes="{root}/cohort/classes{grid_tag}.tsv",
    log:
        "{root}/logs/stack_labels{grid_tag}.log",
    benchmark:
        "{root}/benchmarks/stack_labels{grid_tag}.tsv"
    wildcard_constraints:
        root=RESULTS,
    conda:
        "../../envs/preproc.yaml"
    params:
        groups=GROUPS_ARGUMENT,
    shell:
        "python -m neuropeft stack-labels --labels {input.labels} --index {input.index} --cohort {input.cohort}"
        " {params.groups} --out-array {output.array} --out-classes {output.classes} 2> {log}"


rule train_segmentation:
    input:
        array=model_input(RESULTS, EXPERIMENT_GRID, "experiment", ".npy"),
        index=model_input(RESULTS, EXPERIMENT_GRID, "experiment", ".tsv"),
        labels=labels_stack(".npy"),
        classes=labels_stack(".tsv"),
        folds=f"{RESULTS}/folds/folds.tsv",
    output:
        predictions=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/predictions.tsv",
        history=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/history.tsv",
        run=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/run.json",
        predicted=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/predicted_labels.npy",
        predicted_index=f"{RESULTS}/models/{{experiment}}/fold-{{fold}}/predicted_index.tsv",
    log:
        f"{RESULTS}/logs/train_segmentation/{{experiment}}_fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_segmentation/{{experiment}}_fold-{{fold}}.tsv"
    wildcard_constraints:
        experiment=SEGMENTERS,
    conda:
        "../../envs/learn.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=1 if train_uses_gpu(config) else 0,
    params:
        settings=lambda wildcards: settings_json(EXPERIMENTS[wildcards.experiment]),
        voxel_mm=lambda wildcards: GRIDS[EXPERIMENT_GRID[wildcards.experiment]]["voxel_mm"],
        device=config["device"],
        out_dir=lambda wildcards, output: os.path.dirname(output.predictions),
    shell:
        "python -m neuropeft train-segmentation --array {input.array} --labels {input.labels} --classes {input.classes}"
        " --index {input.index} --folds {input.folds} --fold {wildcards.fold} --voxel-mm {params.voxel_mm}"
        " --out-dir {params.out_dir} --device {params.device} --settings {params.settings:q} 2> {log}"


rule aggregate_segmentation:
    input:
        predictions=fold_files("predictions.tsv"),
        history=fold_files("history.tsv"),
        run=fold_files("run.json"),
        predicted=fold_files("predicted_labels.npy"),
        predicted_index=fold_files("predicted_index.tsv"),
        array=model_input(RESULTS, EXPERIMENT_GRID, "experiment", ".npy"),
        labels=labels_stack(".npy"),
    output:
        summary=f"{METRICS}/{{experiment}}/summary.json",
        folds=f"{METRICS}/{{experiment}}/fold_metrics.tsv",
        subjects=f"{METRICS}/{{experiment}}/subject_metrics.tsv",
        dice=report(
            f"{METRICS}/{{experiment}}/dice.png",
            caption="../report/dice.rst",
            category="Segmentation",
            subcategory="{experiment}",
        ),
        curves=report(
            f"{METRICS}/{{experiment}}/curves.png",
            caption="../report/curves.rst",
            category="Training curves",
            subcategory="{experiment}",
        ),
        qc=report(
            f"{METRICS}/{{experiment}}/qc.png",
            caption="../report/segmentation_qc.rst",
            category="Segmentation",
            subcategory="{experiment}",
        ),
    log:
        f"{RESULTS}/logs/metrics/{{experiment}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/{{experiment}}.tsv"
    wildcard_constraints:
        experiment=SEGMENTERS,
    conda:
        "../../envs/report.yaml"
    params:
        settings=settings_json(config["metrics"]),
        fold_dirs=lambda wildcards, input: " ".join(os.path.dirname(p) for p in input.predictions),
        out_dir=lambda wildcards, output: os.path.dirname(output.summary),
        qc_subjects=max(1, config["segmentation"]["qc_subjects"]),
    shell:
        "python -m neuropeft aggregate-segmentation --experiment {wildcards.experiment} --fold-dirs {params.fold_dirs}"
        " --array {input.array} --labels {input.labels} --qc-subjects {params.qc_subjects} --out-dir {params.out_dir}"
        " --settings {params.settings:q} 2> {log}"


rule segmentation_to_native:
    input:
        predicted=fold_files("predicted_labels.npy"),
        predicted_index=fold_files("predicted_index.tsv"),
        cohort=f"{RESULTS}/cohort/cohort.tsv",
        transforms=lambda wildcards: per_subject(rules.register_t1w.output.transforms),
        references=lambda wildcards: [BY_PREFIX[RESULTS][s["stem"]]["t1w"] for s in INCLUDED_SUBJECTS[RESULTS]],
    output:
        directory(f"{RESULTS}/segmentations/{{experiment}}"),
    log:
        f"{RESULTS}/logs/segmentation_to_native/{{experiment}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/segmentation_to_native/{{experiment}}.tsv"
    wildcard_constraints:
        experiment=SEGMENTERS,
    conda:
        "../../envs/preproc.yaml"
    params:
        settings=lambda wildcards: settings_json(
            {k: GRIDS[EXPERIMENT_GRID[wildcards.experiment]][k] for k in ("voxel_mm", "shape")}
        ),
        # the BIDS desc- label: the experiment's name without its separators
        desc=lambda wildcards: "".join(c for c in wildcards.experiment if c.isalnum()),
    shell:
        "python -m neuropeft segmentation-to-native --predicted {input.predicted} --index {input.predicted_index}"
        " --cohort {input.cohort} --transforms {input.transforms} --references {input.references}"
        " --out-dir {output} --desc {params.desc} --settings {params.settings:q} 2> {log}"
