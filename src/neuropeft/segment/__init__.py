"""Segmentation: label maps on the model grid, UNETR / Swin UNETR with PEFT methods, Dice and HD95."""
