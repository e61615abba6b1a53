"""Adversarial attacks on spiking neural networks and gradient-sparsity regularized training.

Attacks (FGSM, PGD, uniform noise) work on any snn-core classifier, with gradients from BPTT through
any registered surrogate or from rate-based back-propagation, and an ensemble evaluation that counts
a sample as robust only if it survives every gradient estimator. The regularizer penalizes the L1
norm of the input gradient of the true-label probability by a finite difference.
"""

from __future__ import annotations

import logging

from snn_robust.attacks import (
    AttackConfig,
    AttackKind,
    attack_mode,
    fgsm,
    input_gradient,
    mean_logits,
    perturb,
    pgd,
    uniform_noise,
)
from snn_robust.estimators import (
    ENSEMBLE_ESTIMATORS,
    GradientEstimator,
    find_neurons,
    rate_backprop,
    rate_gradient,
    resolve_estimators,
    swap_surrogate,
)
from snn_robust.evaluation import (
    RobustAccuracy,
    gradient_norms,
    make_loader,
    robust_accuracy,
    robustness_table,
)
from snn_robust.regularizer import (
    RegularizerConfig,
    RegularizerOutput,
    regularized_loss,
    sign_finite_difference,
    two_class_probability,
)
from snn_robust.training import (
    ModelSpec,
    RobustLoss,
    RobustTrainConfig,
    evaluate_clean,
    load_model,
    save_model,
    train_robust,
)

__version__ = "0.2.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ENSEMBLE_ESTIMATORS",
    "AttackConfig",
    "AttackKind",
    "GradientEstimator",
    "ModelSpec",
    "RegularizerConfig",
    "RegularizerOutput",
    "RobustAccuracy",
    "RobustLoss",
    "RobustTrainConfig",
    "__version__",
    "attack_mode",
    "evaluate_clean",
    "fgsm",
    "find_neurons",
    "gradient_norms",
    "input_gradient",
    "load_model",
    "make_loader",
    "mean_logits",
    "perturb",
    "pgd",
    "rate_backprop",
    "rate_gradient",
    "regularized_loss",
    "resolve_estimators",
    "robust_accuracy",
    "robustness_table",
    "save_model",
    "sign_finite_difference",
    "swap_surrogate",
    "train_robust",
    "two_class_probability",
    "uniform_noise",
]
