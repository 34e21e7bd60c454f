"""Gaussian input noise, x + std * N(0, 1), drawn from seeded generators on the device.

torch's CPU normal_ runs on one thread and costs about 8% of a CPU epoch, so on CPU the
batch is split in two halves filled concurrently by two generators (ATen releases the GIL).
On CUDA one generator is already parallel. The result is deterministic either way.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

from bilin.errors import UserError


class GaussianNoise:
    def __init__(self, seed: int, device: torch.device):
        n_streams = 2 if device.type == "cpu" else 1
        # derived seeds keep the noise streams apart from the data-order stream (seeded with seed)
        self.generators = [
            torch.Generator(device=device).manual_seed(seed + 1_000_003 * (i + 1)) for i in range(n_streams)
        ]
        self._pool = ThreadPoolExecutor(max_workers=1) if n_streams > 1 else None

    def fill_(self, buffer: torch.Tensor) -> torch.Tensor:
        """Overwrite `buffer` (batch x ...) with N(0, 1) samples."""
        if self._pool is None:
            return buffer.normal_(generator=self.generators[0])
        first, second = buffer.chunk(2, dim=0)
        pending = self._pool.submit(second.normal_, generator=self.generators[1])
        first.normal_(generator=self.generators[0])
        pending.result()
        return buffer

    def get_state(self) -> list[torch.Tensor]:
        return [g.get_state().clone() for g in self.generators]

    def set_state(self, states: list[torch.Tensor]) -> None:
        if len(states) != len(self.generators):
            raise UserError(
                f"the checkpoint has {len(states)} noise streams and this device uses "
                f"{len(self.generators)}: resume on the device type the run started on"
            )
        for generator, state in zip(self.generators, states, strict=True):
            generator.set_state(state)
