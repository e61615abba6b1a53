"""A network that runs a time-folded body on a static input presented at every time step."""

from __future__ import annotations

from torch import Tensor, nn

from snn_convert.layers import TimeFoldedLayer

__all__ = ["SpikingNetwork"]


class SpikingNetwork(nn.Module):
    """Run ``body`` on the input repeated ``S`` times and return per-step logits.

    The input is presented as a constant analog current at every step (direct coding). Stateless
    layers of ``body`` act on the time-folded batch ``[S * B, ...]``; its :class:`TimeFoldedLayer`
    layers unfold it. Subclasses choose ``S`` and which steps are reported through
    :meth:`sequence_plan`.

    Args:
        body: The layer graph (an ANN whose activations were replaced by spiking layers).
        time_steps: Number of reported steps ``T``.
        input_scale: Factor applied to the input before it enters ``body``.

    Raises:
        ValueError: If ``time_steps < 1``.
    """

    def __init__(self, body: nn.Module, time_steps: int, *, input_scale: float = 1.0) -> None:
        super().__init__()
        if time_steps < 1:
            raise ValueError(f"time_steps must be >= 1, got {time_steps}")
        self.body = body
        self.time_steps = int(time_steps)
        self.input_scale = float(input_scale)

    def sequence_plan(self, time_steps: int) -> tuple[int, int]:
        """Return ``(S, first)``: steps to simulate and the index of the first reported step."""
        return time_steps, 0

    def forward(self, x: Tensor, time_steps: int | None = None) -> Tensor:
        """Simulate the network.

        Args:
            x: Static input ``[B, ...]`` (for images ``[B, C, H, W]``).
            time_steps: Reported steps ``T``; defaults to :attr:`time_steps`.

        Returns:
            Logits ``[T, B, K]`` of the reported steps; predictions use their running sum.
        """
        steps = self.time_steps if time_steps is None else int(time_steps)
        total, first = self.sequence_plan(steps)
        for module in self.body.modules():
            if isinstance(module, TimeFoldedLayer):
                module.sequence_length = total
        batch = x.shape[0]
        x = x * self.input_scale if self.input_scale != 1.0 else x
        x_seq = x.unsqueeze(0).expand(total, *x.shape).reshape(total * batch, *x.shape[1:])
        logits = self.body(x_seq)
        logits = logits.reshape(total, batch, *logits.shape[1:])
        return logits[first : first + steps]
