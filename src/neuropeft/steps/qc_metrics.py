"""QC figures of one subject in template space (coverage, Dice, NMI, brain volume, FA/MD) as JSON"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft qc-metrics``."""
    parser.add_argument("--subject", required=True, help="subject label (stem, e.g. sub-001_ses-1)")
    parser.add_argument("--modality", required=True, choices=["dwi", "t1w"], help="which chain these files come from")
    parser.add_argument(
        "--mask", required=True, type=Path, help="native brain mask (its grid is the image's field of view)"
    )
    add_measure_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="output JSON")


def add_measure_arguments(parser: argparse.ArgumentParser) -> None:
    """What the measurement reads beside the mask (shared with ``qc-subject``): transforms, DWI maps, settings."""
    parser.add_argument("--transforms", required=True, type=Path, help="P_transforms.json of `neuropeft register`")
    parser.add_argument("--fa", type=Path, help="native FA map (DWI)")
    parser.add_argument("--md", type=Path, help="native MD map (DWI)")
    add_settings_argument(parser)


def measure(args: argparse.Namespace, out: Path) -> None:
    """Measure the subject's QC figures from parsed arguments and write them to ``out``."""
    from neuropeft.preproc.qc_metrics import QCMetricsSettings, run
    from neuropeft.settings import parse_settings

    run(
        args.subject,
        args.modality,
        args.mask,
        args.transforms,
        out,
        parse_settings(QCMetricsSettings, args.settings),
        args.fa,
        args.md,
    )


def main(args: argparse.Namespace) -> None:
    """Measure and write the subject's QC figures."""
    measure(args, args.out)
