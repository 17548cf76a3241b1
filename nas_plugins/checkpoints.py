"""Where trials keep checkpoints: a local folder, a folder on storage every machine mounts, or an fsspec URL.

A configuration that Hyperband/ASHA promotes runs again with a larger budget, possibly on another machine
(NNI's remote training service, a Ray cluster). It resumes only if that machine sees the checkpoint the
first run left, so the checkpoint root must be shared:

* ``NASP_CHECKPOINT_ROOT=/mnt/shared/ckpt``: a folder on storage mounted at the same path on every
  machine (NFS, NNI's ``sharedStorage`` in reuse mode, a cluster file system);
* ``NASP_CHECKPOINT_ROOT=s3://bucket/ckpt`` (``gs://``, ``sftp://host/path``, ``memory://`` for tests...):
  any fsspec URL, when fsspec and the file system's package (s3fs, gcsfs, paramiko...) are installed where
  the trials run; ``file:///path`` is the local path.

Locations are plain strings (a path or a URL); :func:`join`, :func:`read_bytes`, :func:`write_bytes` and
:func:`make_dirs` work on both. A local write is atomic (a temporary file renamed); on a URL the file is
written under a temporary name and moved where the file system can move, else written in place.

    >>> from nas_plugins import checkpoints
    >>> root = "memory://nasp-doctest"
    >>> checkpoints.write_bytes(checkpoints.join(root, "exp", "a.pt"), b"state")
    >>> checkpoints.read_bytes(checkpoints.join(root, "exp", "a.pt")), checkpoints.read_bytes(root + "/missing")
    (b'state', None)
"""
from __future__ import annotations

import os
import re
import uuid
from typing import Any, Mapping

__all__ = ["ENV", "root_from_env", "is_url", "join", "make_dirs", "read_bytes", "write_bytes", "exists",
           "describe", "MissingCheckpointWarning"]

#: The environment variable naming the checkpoint root (a path or an fsspec URL).
ENV = "NASP_CHECKPOINT_ROOT"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


class MissingCheckpointWarning(RuntimeWarning):
    """A run that should resume (a promoted configuration) found no checkpoint, or an older one, and
    trains from there: the checkpoint root is probably not shared by the machine that trained it."""


def root_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """``$NASP_CHECKPOINT_ROOT`` (a ``file://`` URL as its path), or None when unset or empty."""
    value = (os.environ if environ is None else environ).get(ENV) or None
    return None if value is None else _local(value)


def _local(location: str) -> str:
    if location.startswith("file://"):
        return location[len("file://"):] or "/"
    return location


def is_url(location: Any) -> bool:
    """True for a URL other than ``file://`` (handled by fsspec)."""
    return isinstance(location, str) and bool(_URL.match(location)) and not location.startswith("file://")


def join(root: str | os.PathLike, *names: str) -> str:
    """``root/name/...`` for a path or a URL."""
    root = _local(os.fspath(root))
    if is_url(root):
        return "/".join([root.rstrip("/"), *(n.strip("/") for n in names)])
    return os.path.join(root, *names)


def _fs(url: str):
    try:
        import fsspec
    except ImportError:
        raise ImportError(f"checkpoint location {url!r} is a URL, which needs fsspec where the trial runs "
                          "(pip install fsspec, plus the file system's package, e.g. s3fs for s3://)") from None
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def make_dirs(location: str | os.PathLike) -> str:
    """Create the folder (a no-op on object stores); returns ``location`` as a string."""
    location = _local(os.fspath(location))
    if is_url(location):
        fs, path = _fs(location)
        fs.makedirs(path, exist_ok=True)
    else:
        os.makedirs(location, exist_ok=True)
    return location


def exists(location: str | os.PathLike) -> bool:
    location = _local(os.fspath(location))
    if is_url(location):
        fs, path = _fs(location)
        return bool(fs.exists(path))
    return os.path.exists(location)


def read_bytes(location: str | os.PathLike) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    location = _local(os.fspath(location))
    if is_url(location):
        fs, path = _fs(location)
        try:
            with fs.open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
    try:
        with open(location, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def write_bytes(location: str | os.PathLike, data: bytes) -> None:
    """Write ``data``; readers never see half a file (a temporary name, then a rename/move)."""
    location = _local(os.fspath(location))
    tmp_name = f".{uuid.uuid4().hex}.tmp"
    if is_url(location):
        fs, path = _fs(location)
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent:
            fs.makedirs(parent, exist_ok=True)
        tmp = f"{path}{tmp_name}"
        with fs.open(tmp, "wb") as f:
            f.write(data)
        try:
            fs.mv(tmp, path)
        except (NotImplementedError, OSError):       # a store that cannot move: write in place
            with fs.open(path, "wb") as f:
                f.write(data)
            fs.rm(tmp)
        return
    os.makedirs(os.path.dirname(location) or ".", exist_ok=True)
    tmp = f"{location}{tmp_name}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, location)


def describe(root: str | None) -> str:
    """How a message names the checkpoint root in use."""
    if root is None:
        return f"no shared checkpoint root (${ENV} is not set)"
    return f"${ENV}={root}"
