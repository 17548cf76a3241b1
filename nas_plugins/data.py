"""Embedded demo dataset: scikit-learn's 8x8 handwritten digits (1797 images, 10 classes).

No download is needed; the data ships with scikit-learn.

Example::

    >>> from nas_plugins.data import load_digits_split
    >>> x_train, y_train, x_val, y_val = load_digits_split(val_fraction=0.25, seed=0)
    >>> tuple(x_train.shape), x_train.dtype, y_train.dtype
    ((1347, 1, 8, 8), torch.float32, torch.int64)
    >>> len(x_val)
    450
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

__all__ = ["load_digits_split"]


@lru_cache(maxsize=None)
def _split_arrays(val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]  # [N, 1, 8, 8], values in [0, 1]
    labels = digits.target.astype(np.int64)
    x_tr, x_va, y_tr, y_va = train_test_split(images, labels, test_size=val_fraction,
                                              random_state=seed, stratify=labels)
    for array in (x_tr, x_va, y_tr, y_va):
        array.setflags(write=False)  # cached: make accidental in-place edits fail loudly
    return x_tr, y_tr, x_va, y_va


def load_digits_split(val_fraction: float = 0.25, seed: int = 0
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(x_train, y_train, x_val, y_val)`` for the digits dataset.

    Images are float32 tensors shaped ``[N, 1, 8, 8]`` scaled to ``[0, 1]`` (pixel / 16);
    labels are int64 tensors shaped ``[N]``. The split is stratified by class and
    deterministic for a given ``seed``. Fresh tensors are returned on every call.

    Example::

        >>> from nas_plugins.data import load_digits_split
        >>> x_tr, y_tr, x_va, y_va = load_digits_split(0.25, seed=0)
        >>> float(x_tr.max()) <= 1.0, int(y_va.max())
        (True, 9)
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    arrays = _split_arrays(float(val_fraction), int(seed))
    x_tr, y_tr, x_va, y_va = (torch.tensor(a) for a in arrays)  # copies, so callers may mutate them
    return x_tr, y_tr, x_va, y_va
