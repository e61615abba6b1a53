"""The interface of spiking classifiers: a static image in, per-step logits out."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from snn_core.encoding import Encoder
from snn_core.registry import ENCODERS

__all__ = ["SpikingClassifier", "build_encoder"]


def build_encoder(encoder: str | Encoder | dict[str, Any], time_steps: int) -> Encoder:
    """Return an encoder from an instance, a registered name or ``{"name": ..., **config}``.

    Raises:
        ValueError: If an instance's ``time_steps`` differs from ``time_steps``.
    """
    if isinstance(encoder, Encoder):
        if encoder.time_steps != time_steps:
            raise ValueError(
                f"encoder has time_steps={encoder.time_steps} but the model uses {time_steps}; "
                "build them with the same T"
            )
        return encoder
    if isinstance(encoder, str):
        return ENCODERS.build(encoder, time_steps=time_steps)
    settings = dict(encoder)
    name = settings.pop("name")
    return ENCODERS.build(name, time_steps=time_steps, **settings)


class SpikingClassifier(nn.Module):
    """Base of spiking classifiers: ``forward(x [B, C, H, W]) -> logits [T, B, K]``.

    The encoder turns the static input into a sequence; :meth:`forward_sequence` runs the network.
    Predictions use the mean of the logits over time (:meth:`predict`). Attacks, trainers and the
    conversion tools rely only on this interface.

    Args:
        time_steps: Number of simulation steps ``T``.
        encoder: Input encoder (instance, registered name or config dict); direct coding by default.
    """

    def __init__(self, time_steps: int, encoder: str | Encoder | dict[str, Any] = "direct") -> None:
        super().__init__()
        self.time_steps = time_steps
        self.encoder = build_encoder(encoder, time_steps)

    def forward(self, x: Tensor) -> Tensor:
        """Encode ``x [B, ...]`` and return per-step logits ``[T, B, K]``."""
        return self.forward_sequence(self.encoder(x))

    def forward_sequence(self, x_seq: Tensor) -> Tensor:
        """Run the network on an encoded sequence ``[T, B, ...]``; return logits ``[T, B, K]``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward_sequence")

    def predict(self, x: Tensor) -> Tensor:
        """Return the class logits averaged over time, ``[B, K]``."""
        return self(x).mean(0)
