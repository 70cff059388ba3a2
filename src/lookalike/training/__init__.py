"""Training: PML losses/miners by name, a LightningModule taking built objects, ``train(cfg)``."""

from lookalike.training.config import TrainConfig, load_train_config
from lookalike.training.train import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "load_train_config", "train"]
