"""Helpers for time-major tensors: running ANN layers over ``[T, B, ...]`` and decoding spikes."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["TimeDistributed", "fold_time", "rate_decode", "unfold_time"]


def fold_time(x_seq: Tensor) -> Tensor:
    """Merge the time and batch dimensions: ``[T, B, ...] -> [T * B, ...]``.

    Raises:
        ValueError: If ``x_seq`` has fewer than two dimensions.
    """
    if x_seq.dim() < 2:
        raise ValueError(f"expected a sequence [T, B, ...], got shape {tuple(x_seq.shape)}")
    return x_seq.flatten(0, 1)


def unfold_time(y: Tensor, time_steps: int) -> Tensor:
    """Split the folded batch back: ``[T * B, ...] -> [T, B, ...]``.

    Raises:
        ValueError: If the first dimension is not a multiple of ``time_steps``.
    """
    if time_steps < 1 or y.shape[0] % time_steps:
        raise ValueError(
            f"cannot split a batch of {y.shape[0]} into {time_steps} time steps; "
            "pass the T that fold_time merged"
        )
    return y.unflatten(0, (time_steps, y.shape[0] // time_steps))


class TimeDistributed(nn.Module):
    """Apply a stateless ANN layer (conv, BN, linear, pooling) to every time step at once.

    Folding time into the batch runs one large call instead of ``T`` small ones. BatchNorm then
    normalises over time and batch together, as in SpikingJelly's ``SeqToANNContainer``.

    Args:
        module: The layer, or several layers applied in order.
    """

    def __init__(self, *module: nn.Module) -> None:
        super().__init__()
        self.module = module[0] if len(module) == 1 else nn.Sequential(*module)

    def forward(self, x_seq: Tensor) -> Tensor:
        """Map ``[T, B, ...]`` to ``[T, B, ...']`` by applying the module to ``[T * B, ...]``."""
        return unfold_time(self.module(fold_time(x_seq)), x_seq.shape[0])


def rate_decode(spikes: Tensor) -> Tensor:
    """Return the firing rate (mean over time) of ``spikes [T, B, ...]`` as ``[B, ...]``."""
    if spikes.dim() < 2:
        raise ValueError(f"expected a sequence [T, B, ...], got shape {tuple(spikes.shape)}")
    return spikes.mean(0)
