"""convert an upstream foundation checkpoint (e.g. SAM-Med3D's .pth) to safetensors for an experiment's init"""

from __future__ import annotations

import argparse

from neuropeft.errors import NeuropeftError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the convert-checkpoint step."""
    parser.add_argument("--checkpoint", required=True, help="the upstream torch.save file (e.g. sam_med3d_turbo.pth)")
    parser.add_argument("--backbone", required=True, help="backbone it is for (e.g. sam-med3d, fmcib-resnet50)")
    parser.add_argument("--out", required=True, help="the safetensors file to write (OUT.safetensors)")
    parser.add_argument(
        "--in-channels", type=int, default=1, help="input channels the checkpoint was trained on (default 1)"
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="unpickle a file that needs more than tensors (can run code it carries); only with --sha256",
    )
    parser.add_argument("--sha256", default="", help="the file's pinned SHA-256; a file with another is refused")


def main(args: argparse.Namespace) -> None:
    """Convert, print the report and the output's SHA-256."""
    if args.allow_pickle and not args.sha256:
        raise NeuropeftError(
            f"--allow-pickle needs --sha256 <the pinned SHA-256 of {args.checkpoint}>: a file is unpickled only "
            "when its digest matches the one published with it"
        )
    from neuropeft.learn.convert_checkpoint import convert_checkpoint, format_report

    conversion, digest = convert_checkpoint(
        args.checkpoint, args.backbone, args.out, args.in_channels, args.sha256, args.allow_pickle
    )
    print(format_report(conversion, args.out, digest))
