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

__all__ = ["load_digits_split", "load_digits_images", "load_cifar10", "CIFAR10_MEAN", "CIFAR10_STD"]


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


def load_digits_images(val_fraction: float = 0.25, seed: int = 0, image_size: int = 8
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`load_digits_split` as 1-channel images of ``image_size`` pixels a side (bilinear
    upsampling when larger than 8; 8 returns the images unchanged), e.g. for a network whose stem and
    reductions need more pixels.

        >>> from nas_plugins.data import load_digits_images
        >>> x_tr, y_tr, x_va, y_va = load_digits_images(image_size=16)
        >>> tuple(x_tr.shape), tuple(x_va.shape)
        ((1347, 1, 16, 16), (450, 1, 16, 16))
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8 (digits are 8x8), got {image_size!r}")
    x_tr, y_tr, x_va, y_va = load_digits_split(val_fraction, seed)
    if image_size != 8:
        def up(x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear",
                                                   align_corners=False)
        x_tr, x_va = up(x_tr), up(x_va)
    return x_tr, y_tr, x_va, y_va


#: Per-channel mean and standard deviation of the CIFAR-10 training images (pixels in [0, 1]).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
_CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR10_FILES = {True: [f"data_batch_{i}" for i in range(1, 6)], False: ["test_batch"]}


def load_cifar10(root: str, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from a local folder, never downloading: ``(images, labels)``, images ``uint8 [N, 3, 32, 32]``
    (normalise them with :data:`CIFAR10_MEAN` / :data:`CIFAR10_STD` after dividing by 255), labels int64.

    ``root`` is what torchvision's ``CIFAR10(root=..., download=False)`` takes: the folder holding
    ``cifar-10-batches-py`` (the extracted ``cifar-10-python.tar.gz``). The data is read with torchvision
    when it imports, else from the same pickled batches directly. A folder without the data raises
    ``FileNotFoundError`` naming the folder and the missing files.

        >>> from nas_plugins.data import load_cifar10
        >>> load_cifar10("/nonexistent")
        Traceback (most recent call last):
        ...
        FileNotFoundError: CIFAR-10 data folder '/nonexistent' does not exist; ...
    """
    import os
    import pickle

    root = os.fspath(root)
    folder = os.path.join(root, _CIFAR10_FOLDER)
    hint = (f"expected {folder}/ with {', '.join(_CIFAR10_FILES[True] + _CIFAR10_FILES[False])} "
            "(the extracted cifar-10-python.tar.gz, as torchvision's CIFAR10 stores it); nothing is downloaded")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"CIFAR-10 data folder {root!r} does not exist; {hint}")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"CIFAR-10 not found in {root!r}: no folder {_CIFAR10_FOLDER!r}; {hint}")
    missing = [f for f in _CIFAR10_FILES[train] if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 in {root!r} is incomplete: missing {', '.join(missing)}; {hint}")
    try:
        from torchvision.datasets import CIFAR10
    except Exception:  # noqa: BLE001 -- torchvision absent or broken (e.g. built for another torch)
        CIFAR10 = None
    if CIFAR10 is not None:
        try:
            dataset = CIFAR10(root=root, train=train, download=False)
        except RuntimeError as exc:  # torchvision's "Dataset not found or corrupted"
            raise FileNotFoundError(f"CIFAR-10 in {root!r} could not be read by torchvision ({exc}); {hint}") from exc
        data, labels = dataset.data, dataset.targets            # [N, 32, 32, 3] uint8, list of ints
    else:
        chunks, labels = [], []
        for name in _CIFAR10_FILES[train]:
            with open(os.path.join(folder, name), "rb") as f:
                entry = pickle.load(f, encoding="latin1")
            chunks.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
        data = np.concatenate(chunks)
    images = torch.from_numpy(np.ascontiguousarray(np.asarray(data, dtype=np.uint8).transpose(0, 3, 1, 2)))
    return images, torch.tensor(labels, dtype=torch.int64)
