"""Settings of one self-supervised pre-training (one entry of the config's ``pretrain``)."""

from __future__ import annotations

from dataclasses import dataclass

#: strategy -> (backbone kind it needs, one-line description)
STRATEGIES = {
    "mae": ("vit", "masked autoencoder: encode the visible patches, a light decoder predicts the masked ones"),
    "reconstruction": ("resnet", "autoencoder: a light decoder rebuilds the (optionally masked/noised) input"),
    "contrastive": ("resnet", "SimCLR: two augmented views of a volume, projection head, NT-Xent loss"),
}


@dataclass
class PretrainSettings:
    """One pre-training run; every field has the config default."""

    name: str = "pretrain"  # run name (results/pretrain/{name}/backbone.safetensors)
    backbone: str = "resnet10"  # vit-b, vit-s, vit-tiny (strategy mae) or resnet10, resnet18, fmcib-resnet50 (reconstruction, contrastive)
    strategy: str = "reconstruction"  # mae, reconstruction or contrastive
    epochs: int = 50  # number of epochs over all volumes of the array
    batch_size: int = 8  # volumes per optimiser step (contrastive: 2 views each)
    lr: float = 5e-4  # peak AdamW learning rate
    weight_decay: float = 0.05  # AdamW weight decay
    warmup_epochs: float = 5.0  # linear warm-up length (epochs) before the cosine decay to 0 at `epochs`
    grad_clip: float = 1.0  # maximum gradient L2 norm (0 = no clipping)
    mask_ratio: float = 0.75  # mae: fraction of patch tokens hidden from the encoder (and predicted)
    norm_pix_loss: bool = True  # mae: predict each masked patch normalised to zero mean, unit variance
    decoder_dim: int = 192  # mae: decoder token width (divisible by 6 and decoder_heads); reconstruction: first decoder conv width (halved per upsampling)
    decoder_depth: int = 2  # mae: transformer blocks in the decoder
    decoder_heads: int = 6  # mae: attention heads of the decoder blocks
    input_mask_ratio: float = (
        0.0  # reconstruction: fraction of input cubes zeroed before encoding (0 = plain autoencoder)
    )
    input_mask_patch: int = 8  # reconstruction: side (voxels) of the zeroed input cubes
    input_noise_std: float = (
        0.0  # reconstruction: std of gaussian noise added to the input only (denoising; the target stays clean)
    )
    temperature: float = 0.1  # contrastive: NT-Xent softmax temperature
    projection_dim: int = (
        128  # contrastive: output of the projection head (features -> 4*projection_dim -> projection_dim)
    )
    augment_flip: bool = True  # random left-right flip (first spatial axis) with probability 0.5
    augment_rotate_deg: float = 10.0  # random rotation up to ± this many degrees about each axis
    augment_scale: float = 0.1  # random isotropic scaling by a factor in [1 - s, 1 + s]
    augment_intensity: float = 0.2  # random intensity scaling by a factor in [1 - i, 1 + i]
    augment_noise_std: float = 0.05  # std of gaussian noise added to each view (its target too, unlike input_noise_std)
    seed: int = 0  # seed of initialisation, batch order, masking and augmentation
    num_workers: int = 0  # DataLoader worker processes
    max_epochs_this_run: int = 0  # stop after this many epochs in this invocation, resumable (0 = no limit)
    checkpoint_seconds: float = 60.0  # write the resumable checkpoint at most this often (0 = after every epoch)
    grid: str = ""  # the model grid (config model_grids) whose stack the workflow passes; "" = model_grid; recorded, not read by pre-training
