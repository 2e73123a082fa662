"""Learning stage: folds, backbones, PEFT methods, heads, training."""
