"""train one federated experiment on one fold across the sites (Flower: simulated here, or on a SuperLink)"""

from __future__ import annotations

import argparse

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the federate step."""
    parser.add_argument("--array", help="model_input.npy, float32 (N, C, X, Y, Z) (simulation: every site's)")
    parser.add_argument("--index", help="model_input.tsv (row, participant_id, session, target, site) (simulation)")
    parser.add_argument("--folds", help="folds.tsv from `neuropeft folds` with site_balanced: true (simulation)")
    parser.add_argument("--fold", required=True, type=int, help="fold number (its test subjects are predicted)")
    parser.add_argument(
        "--out-dir",
        required=True,
        help="output folder (predictions.tsv, history.tsv, run.json, rounds.tsv, client_weights.tsv, weights)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--cpus", type=int, default=1, help="simulation: sites trained at the same time (a core each)")
    parser.add_argument(
        "--superlink",
        default="",
        help="HOST:PORT of a running SuperLink (Deployment Engine): the sites' SuperNodes bring their own data",
    )
    parser.add_argument("--root-certificates", default="", help="the SuperLink's CA certificate (TLS); none: insecure")
    parser.add_argument(
        "--init-checkpoint", default="", help="foundation checkpoint for the backbone (overrides settings init)"
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Run the federation (resuming after its last completed round) and write its outputs."""
    import dataclasses
    from pathlib import Path

    from neuropeft.errors import NeuropeftError
    from neuropeft.federated.job import FederationJob
    from neuropeft.learn.experiment import ExperimentSettings
    from neuropeft.learn.folds import read_index
    from neuropeft.settings import parse_settings

    settings = parse_settings(ExperimentSettings, args.settings)
    job = FederationJob(
        experiment=dataclasses.asdict(settings),
        fold=args.fold,
        init=args.init_checkpoint or settings.init,
        device=args.device,
    )
    job.federated  # noqa: B018  (refuses bad federated settings before anything starts)
    if args.superlink:
        from neuropeft.federated.deployment import deploy

        deploy(job, Path(args.out_dir), args.superlink, args.root_certificates)
        return
    if not (args.array and args.index and args.folds):
        raise NeuropeftError("a simulated federation needs --array, --index and --folds (or --superlink ADDRESS)")
    index = read_index(args.index)
    if "site" not in index.columns:
        raise NeuropeftError(f"{args.index} has no site column; set site_column in the config to name the sites")
    job.sites = sorted(set(index["site"]))
    if len(job.sites) < job.federated.min_clients:
        raise NeuropeftError(
            f"{args.index}: {len(job.sites)} site(s) {job.sites}, fewer than the federation's min_clients "
            f"{job.federated.min_clients}; name the sites with the config's site_column"
        )
    job.array, job.index, job.folds = (str(Path(p).resolve()) for p in (args.array, args.index, args.folds))
    from neuropeft.federated.simulation import simulate

    simulate(job, Path(args.out_dir), args.cpus)
