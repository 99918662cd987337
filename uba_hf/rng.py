"""Save and restore every global random-number generator a training run draws from.

Work done *beside* training (the curvature probe, drawing probe batches from the train dataloader)
must not move the data order or the initialisation of the run it serves: torch's CPU generator,
every initialised CUDA device's generator, Python's ``random`` and NumPy's global generator (when
NumPy is imported) are restored exactly on exit.
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Iterator

import torch

__all__ = ["preserve_rng"]


@contextlib.contextmanager
def preserve_rng() -> Iterator[None]:
    """Restore the torch (CPU and CUDA), ``random`` and NumPy global RNG states on exit."""
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    py = random.getstate()
    numpy = sys.modules.get("numpy")
    np_state = numpy.random.get_state() if numpy is not None else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        random.setstate(py)
        if np_state is not None:
            numpy.random.set_state(np_state)
