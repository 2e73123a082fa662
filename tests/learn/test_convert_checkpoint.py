"""neuropeft convert-checkpoint: upstream layouts to safetensors, pickles only with a pinned digest, strict keys.

``sam-med3d`` is swapped in the registry for a small encoder of the same code (the full one is
370 MB), so the step builds, checks and loads exactly what it would for the real one.
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import pytest
import torch

from neuropeft.cli import main as cli_main
from neuropeft.learn.backbones import BACKBONES, Backbone, SamMed3DBackbone, build_backbone
from neuropeft.learn.checkpoint import sha256_of
from neuropeft.learn.sam_med3d import ImageEncoderViT3D

SMALL = {
    "img_size": 16,
    "patch_size": 8,
    "embed_dim": 16,
    "depth": 2,
    "num_heads": 2,
    "out_chans": 8,
    "window_size": 2,
    "global_attn_indexes": (1,),
}
DECODER = {
    "prompt_encoder.point_embeddings.0.weight": torch.ones(1, 8),
    "mask_decoder.transformer.layers.0.self_attn.q_proj.weight": torch.ones(4, 4),
    "mask_decoder.iou_token.weight": torch.ones(1, 8),
}


class TrainingArgs:
    """Stands for what upstream pickles beside the weights (its training script's own objects)."""

    def __init__(self, lr: float) -> None:
        self.lr = lr


def small_sam_med3d(in_channels: int, input_shape: tuple[int, ...]) -> Backbone:
    """A SAM-Med3D encoder of the same code, small (the input shape is ignored, as a meta build needs)."""
    return SamMed3DBackbone(ImageEncoderViT3D(in_chans=in_channels, **SMALL), SMALL["out_chans"])


@pytest.fixture(autouse=True)
def small_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sam-med3d`` built small for every test here."""
    monkeypatch.setitem(BACKBONES, "sam-med3d", small_sam_med3d)


def encoder_tensors(in_channels: int = 1) -> dict[str, torch.Tensor]:
    """Random tensors for every key of the small encoder."""
    generator = torch.Generator().manual_seed(0)
    net = build_backbone("sam-med3d", in_channels, (16, 16, 16)).net
    return {k: torch.randn(v.shape, generator=generator) for k, v in net.state_dict().items()}


def save_upstream(path: Path, encoder: dict[str, torch.Tensor], **extra: object) -> Path:
    """A checkpoint in SAM-Med3D's layout: ``model_state_dict`` with ``image_encoder.*`` and the decoders."""
    state = {**{f"image_encoder.{k}": v for k, v in encoder.items()}, **DECODER}
    torch.save({"model_state_dict": state, "epoch": 3, "optimizer_state_dict": {"param_groups": []}, **extra}, path)
    return path


def convert(tmp_path: Path, checkpoint: Path, *options: str, backbone: str = "sam-med3d") -> list[str]:
    """The step's argument list writing ``tmp_path/out.safetensors``."""
    out = tmp_path / "out.safetensors"
    return ["convert-checkpoint", "--checkpoint", str(checkpoint), "--backbone", backbone, "--out", str(out), *options]


def printed_sha256(out: str) -> str:
    """The digest on the report's ``sha256`` line."""
    return next(line.split()[1] for line in out.splitlines() if line.startswith("sha256"))


def test_weights_only_checkpoint_converts_and_loads_through_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    encoder = encoder_tensors()
    checkpoint = save_upstream(tmp_path / "sam_med3d.pth", encoder)
    assert cli_main(convert(tmp_path, checkpoint)) == 0
    report = capsys.readouterr().out
    out = tmp_path / "out.safetensors"
    digest = printed_sha256(report)
    assert digest == sha256_of(out)
    assert "(weights only)" in report
    assert f"written     {len(encoder)} tensors" in report
    assert "ignored     3 key(s) outside the backbone mask_decoder.iou_token.weight" in report
    assert "prompt_encoder.point_embeddings.0.weight" in report
    assert f"init: {out}  checkpoint_sha256: {digest}" in report
    target = build_backbone("sam-med3d", 1, (16, 16, 16))
    target.load_pretrained(out, sha256=digest)  # what an experiment's init + checkpoint_sha256 do
    loaded = target.net.state_dict()
    assert set(loaded) == set(encoder)
    assert all(torch.equal(loaded[k], v) for k, v in encoder.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.safetensors", "sam_med3d.pth"]


@pytest.mark.parametrize("carried", [TrainingArgs(1e-4), argparse.Namespace(lr=1e-4)])
def test_pickled_objects_need_allow_pickle_and_the_pinned_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], carried: object
) -> None:
    encoder = encoder_tensors()
    checkpoint = save_upstream(tmp_path / "sam_med3d_turbo.pth", encoder, args=carried)
    pinned = sha256_of(checkpoint)
    name = type(carried).__name__
    assert cli_main(convert(tmp_path, checkpoint)) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "holds pickled code" in error and name in error
    assert "arbitrary code" in error and "--allow-pickle --sha256" in error
    assert cli_main(convert(tmp_path, checkpoint, "--allow-pickle")) == 1
    assert "--allow-pickle needs --sha256" in capsys.readouterr().err
    assert cli_main(convert(tmp_path, checkpoint, "--allow-pickle", "--sha256", "ab" * 32)) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and f"has sha256 {pinned}, expected {'ab' * 32}" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sam_med3d_turbo.pth"]
    assert cli_main(convert(tmp_path, checkpoint, "--allow-pickle", "--sha256", pinned.upper())) == 0
    report = capsys.readouterr().out
    assert "(unpickled: its sha256 matched the pin)" in report
    target = build_backbone("sam-med3d", 1, (16, 16, 16))
    target.load_pretrained(tmp_path / "out.safetensors", printed_sha256(report))
    assert torch.equal(target.net.pos_embed, encoder["pos_embed"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("drop", "1 missing key(s) blocks.0.attn.rel_pos_d;"),
        ("reshape", "1 shape mismatch(es) pos_embed (1, 3, 3, 3, 16)≠(1, 2, 2, 2, 16);"),
    ],
)
def test_missing_or_mis_shaped_keys_are_refused_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, message: str
) -> None:
    encoder = encoder_tensors()
    if change == "drop":
        del encoder["blocks.0.attn.rel_pos_d"]
    else:
        encoder["pos_embed"] = torch.zeros(1, 3, 3, 3, 16)
    checkpoint = save_upstream(tmp_path / "sam_med3d.pth", encoder)
    assert cli_main(convert(tmp_path, checkpoint)) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and str(checkpoint) in error
    assert "does not fit backbone sam-med3d" in error and message in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sam_med3d.pth"]


def test_many_missing_keys_are_counted_with_the_first_few_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    encoder = encoder_tensors()
    kept = {k: v for k, v in encoder.items() if not k.startswith("blocks.1.")}
    assert cli_main(convert(tmp_path, save_upstream(tmp_path / "ck.pth", kept))) == 1
    error = capsys.readouterr().err
    dropped = len(encoder) - len(kept)
    assert f"{dropped} missing key(s) blocks.1.attn.proj.bias, " in error
    assert f"... and {dropped - 5} more" in error


def test_a_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch

    def fail(tensors: dict[str, torch.Tensor], filename: str, metadata: dict[str, str]) -> None:
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", fail)
    checkpoint = save_upstream(tmp_path / "sam_med3d.pth", encoder_tensors())
    with pytest.raises(OSError, match="disk full"):
        cli_main(convert(tmp_path, checkpoint))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sam_med3d.pth"]


def test_a_checkpoint_without_the_encoder_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = tmp_path / "decoder.pth"
    torch.save({"model_state_dict": DECODER}, checkpoint)
    assert cli_main(convert(tmp_path, checkpoint)) == 1
    assert f"{checkpoint}: checkpoint has no image_encoder.* tensors" in capsys.readouterr().err


def test_other_backbones_take_a_wrapped_state_dict_and_drop_unexpected_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    source = build_backbone("vit-tiny", 1, (32, 32, 32)).net.state_dict()
    checkpoint = tmp_path / "vit.pt"
    torch.save(
        {"state_dict": {**{f"module.{k}": v for k, v in source.items()}, "module.head.weight": torch.ones(2)}},
        checkpoint,
    )
    assert cli_main(convert(tmp_path, checkpoint, backbone="vit-tiny")) == 0
    report = capsys.readouterr().out
    assert "unexpected  1 key(s), not written head.weight" in report
    assert "ignored     0 key(s)" in report
    torch.manual_seed(1)
    target = build_backbone("vit-tiny", 1, (32, 32, 32))
    target.load_pretrained(tmp_path / "out.safetensors", printed_sha256(report))
    assert all(torch.equal(target.net.state_dict()[k], v) for k, v in source.items())


def test_a_stem_of_another_channel_count_is_written_as_is_and_adapted_on_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    encoder = encoder_tensors(in_channels=1)
    checkpoint = save_upstream(tmp_path / "sam_med3d.pth", encoder)
    assert cli_main(convert(tmp_path, checkpoint, "--in-channels", "2")) == 0
    assert "stem        patch_embed.proj.weight (16, 1, 8, 8, 8) written as is" in capsys.readouterr().out
    target = build_backbone("sam-med3d", 2, (16, 16, 16))
    target.load_pretrained(tmp_path / "out.safetensors")
    stem = encoder["patch_embed.proj.weight"]
    torch.testing.assert_close(target.net.patch_embed.proj.weight, stem.repeat(1, 2, 1, 1, 1) / 2)


@pytest.mark.parametrize(
    ("out", "message"),
    [("out.pt", "must end in .safetensors"), ("sam_med3d.safetensors", "is the checkpoint itself")],
)
def test_bad_outputs_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str, message: str) -> None:
    checkpoint = tmp_path / "sam_med3d.safetensors"
    checkpoint.write_bytes(b"")
    argv = [
        "convert-checkpoint",
        "--checkpoint",
        str(checkpoint),
        "--backbone",
        "sam-med3d",
        "--out",
        str(tmp_path / out),
    ]
    assert cli_main(argv) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04 not a zip", "could not be read by torch.load (RuntimeError: PytorchStreamReader failed"),
        (b"not a checkpoint", "could not be unpickled (WeightsUnpickler error: Unsupported operand 110); is it"),
    ],
)
def test_a_file_torch_cannot_read_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    checkpoint = tmp_path / "notes.pth"
    checkpoint.write_bytes(content)
    assert cli_main(convert(tmp_path, checkpoint)) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and str(checkpoint) in error and message in error


def test_a_trusted_pickle_whose_class_does_not_import_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = types.ModuleType("upstream_training")
    carried = type("Args", (), {"__module__": "upstream_training"})
    module.Args = carried  # type: ignore[attr-defined]
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "upstream_training", module)
        checkpoint = save_upstream(tmp_path / "sam_med3d.pth", encoder_tensors(), args=carried())
    assert cli_main(convert(tmp_path, checkpoint, "--allow-pickle", "--sha256", sha256_of(checkpoint))) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "not installed here to unpickle (ModuleNotFoundError: No module named" in error
