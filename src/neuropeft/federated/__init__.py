"""Federated fine-tuning across sites on Flower: clients are sites, only trainable parameters travel."""
