"""Training real GPTs on real text: configs, exact accounting, data, the model and the trainer.

Light imports only here (configs and accounting are pure Python); torch loads when the model or trainer does.
"""

from scalinglab.train.accounting import count_params, flops_per_token, training_flops
from scalinglab.train.config import DataConfig, ModelConfig, TrainConfig

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "count_params", "flops_per_token", "training_flops"]
