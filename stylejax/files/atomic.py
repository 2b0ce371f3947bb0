"""Atomic file writes: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temp path beside `path` (same extension); on success move it into place.

    On an exception the temp file is removed and `path` is left as it was. With `overwrite`
    False an existing `path` is never replaced, checked atomically at the moment of writing
    (a hard link fails if the name exists): FileExistsError, and the temp file is removed.
    """
    path = Path(path)
    tmp = None
    try:
        # Inside the `try`: an interrupt (SIGINT becomes an exception) that lands just after
        # the temp file is made still removes it.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=path.suffix)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        yield Path(tmp)
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(Path(tmp), path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def _link_new(tmp: Path, path: Path) -> None:
    """Moves `tmp` to the new name `path`, raising FileExistsError if `path` exists."""
    try:
        os.link(tmp, path)  # atomic: fails with FileExistsError when `path` exists
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: the check and the rename are two steps
        if path.exists():
            raise FileExistsError(errno.EEXIST, "file exists", str(path)) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)
