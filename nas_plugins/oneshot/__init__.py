"""One-shot NAS: weight-sharing supernets over the NB201 and DARTS cell spaces and the trainers that
search them (SPOS, DARTS first and second order).

Example::

    >>> import torch
    >>> from nas_plugins.oneshot import create_supernet, create_trainer, TRAINERS
    >>> sorted(TRAINERS)
    ['darts', 'spos']
    >>> g = torch.Generator().manual_seed(0)
    >>> batch = (torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g))
    >>> trainer = create_trainer("spos", create_supernet("nb201", C=2, seed=0), seed=0)
    >>> for _ in range(2):
    ...     losses = trainer.step(batch, batch)
    >>> arch = trainer.supernet.sample_arch(trainer.rng)
    >>> 0.0 <= trainer.estimate(arch, [batch]) <= 1.0
    True
"""
from .supernet import SUPERNETS, DartsSupernet, Mini201Supernet, MixedOp, NB201Supernet, Supernet, create_supernet
from .trainers import (TRAINERS, DartsTrainer, OneShotTrainer, SearchResult, SPOSTrainer, create_trainer,
                       register_trainer, trainer_options)

__all__ = ["MixedOp", "Supernet", "NB201Supernet", "Mini201Supernet", "DartsSupernet", "SUPERNETS", "create_supernet",
           "OneShotTrainer", "SPOSTrainer", "DartsTrainer", "SearchResult", "TRAINERS", "register_trainer",
           "create_trainer", "trainer_options"]
