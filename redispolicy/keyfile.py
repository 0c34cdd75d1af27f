"""A per-user secret key file, created once, atomically, and never seen half-written.

The first run writes a random key to a temporary file in the same directory (0600),
fsyncs it and hard-links it into place: ``link`` fails if the name exists, so of two
first runs racing one wins and the other reads the winner's key, and a reader sees
either no file or a complete one. A crash leaves at most a stray temporary file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from redispolicy.errors import RedispolicyError

MIN_KEY_BYTES = 32  # the key we write is 64 hex characters; less is a truncated or hand-made file


def read_or_create(path: Path, what: str, regenerate: str) -> bytes:
    """The key in ``path``, created on first use. ``what`` names the key in errors; ``regenerate``
    says what deleting it costs (e.g. which files made with the old key become unusable)."""
    try:
        return _read(path, what, regenerate)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _create(path)
    except FileExistsError:
        pass  # another run created it first: use theirs, so both sign with the same key
    except OSError as exc:
        raise RedispolicyError(
            f"cannot create the {what} {path}: {exc.strerror}",
            "check that the directory is writable, or set the key in the environment instead",
        ) from None
    return _read(path, what, regenerate)


def _read(path: Path, what: str, regenerate: str) -> bytes:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RedispolicyError(
            f"cannot read the {what} {path}: {exc.strerror}",
            "check its permissions (it should be readable by you only, mode 0600)",
        ) from None
    if len(key.strip()) < MIN_KEY_BYTES:
        state = (
            "is empty"
            if not key.strip()
            else f"is too short ({len(key.strip())} bytes, at least {MIN_KEY_BYTES})"
        )
        raise RedispolicyError(
            f"the {what} {path} {state}: it was cut off while being written, or made by hand",
            f"delete it and a new key is created on the next run ({regenerate})",
        )
    return key


def _create(path: Path) -> None:
    """Write a new key beside ``path`` and link it into place; FileExistsError if ``path`` exists."""
    key = secrets.token_hex(32).encode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
        _sync_dir(path.parent)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _sync_dir(directory: Path) -> None:
    """Make the new name durable too (best effort: not every system can fsync a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
