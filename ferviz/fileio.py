"""How ferviz writes: one rule, kept by every command that writes.

1. Output is written under a temporary name beside its target (a hidden sibling) and moved
   into place with one rename, so that a reader, or a crash, sees the old target or the new
   one, never half of either (`atomic_file`, `atomic_path` for a file that is written by
   another function and checked before it is moved, `atomic_folder`).
2. An existing target is refused unless the caller passes ``overwrite``; with it the whole
   target is replaced, and nothing of the old one stays beside the new one. An empty folder
   counts as absent. A non-empty folder is only replaced when it holds ferviz output of the
   same kind (its ``owner`` file: ``manifest.json``, ``report.json``...).
3. A run folder (``ferviz train``, ``ferviz study``) is written in place while the run goes
   on, so that an interrupted run can be resumed. It is locked while a process writes it
   (`run_lock`); a second writer is refused with a message that names the first one's process.
4. `check_target` checks a target before any work starts: a file where a folder is wanted or
   the reverse, an existing target without ``overwrite``, a location that cannot be written.

Every failure is an :class:`~ferviz.errors.OutputError` that names the path and what to do,
and so is an ``OSError`` of the writes themselves (a full disk, a read-only file system).
This module imports nothing heavy: the CLI checks targets before torch is loaded.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ferviz.errors import OutputError

#: The lock file inside a run folder; it names the process that writes the folder.
LOCK_NAME = ".ferviz-lock"
#: The file formats of the figures ferviz writes (--format).
FIGURE_FORMATS = ("png", "pdf", "svg")


def cannot_write(path: Path, exc: OSError, option: str = "--out") -> OutputError:
    """The one-line error for an OSError met while writing `path`."""
    return OutputError(f"{option} {path}: cannot write there ({exc.strerror or type(exc).__name__}); choose a "
                       "writable location")


def _entries(folder: Path) -> list[str]:
    """The names in `folder`, a lock file left by a killed run aside."""
    return [name for name in os.listdir(folder) if name != LOCK_NAME]


def _owned(entries: list[str], owner: str | tuple[str, ...] | None) -> bool:
    """Whether a folder with `entries` holds ferviz output marked by `owner` (None: any folder)."""
    if owner is None:
        return True
    return any(name in entries for name in ((owner,) if isinstance(owner, str) else owner))


def _names(owner: str | tuple[str, ...] | None) -> str:
    return owner if isinstance(owner, str) else " or ".join(owner or ())


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe(folder: Path) -> OSError | None:
    """Create and delete a temporary file in `folder`: the only sure test of writing there."""
    try:
        fd, name = tempfile.mkstemp(prefix=".ferviz-probe.", dir=folder)
    except OSError as exc:
        return exc
    os.close(fd)
    os.unlink(name)
    return None


def check_target(path, *, folder: bool, overwrite: bool = False, owner: str | tuple[str, ...] | None = None,
                 in_place: bool = False, option: str = "--out") -> Path:
    """Refuse a target that cannot be written or must not be replaced; call it before any work.

    folder: the target is a folder (else a file). overwrite: an existing target may be
    replaced, whole. owner: for a folder, the file (or any of the files) that marks ferviz
    output of this kind; a non-empty folder without it is never replaced. in_place: a run folder, written inside
    (else the target is made beside itself and renamed). Returns the path.
    """
    path = Path(path)
    noun = "folder" if folder else "file"
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{option} {path} is a dangling link; remove it or choose another {noun}")
    if path.exists():
        if folder and not path.is_dir():
            raise OutputError(f"{option} {path} is a file, not a folder; choose a folder")
        if not folder and path.is_dir():
            raise OutputError(f"{option} {path} is a folder; give the path of a file to write")
        if folder:
            try:
                entries = _entries(path)
            except OSError as exc:
                raise cannot_write(path, exc, option) from None
            if entries and not _owned(entries, owner):
                raise OutputError(f"{option} {path} is not empty and holds no {_names(owner)}, so it is not "
                                  "ferviz output of this kind (which --overwrite would replace); choose another "
                                  "folder")
            if entries and not overwrite:
                raise OutputError(f"{option} {path} already exists and is not empty; pass --overwrite to "
                                  "replace all of it, or choose another folder")
        elif not overwrite:
            raise OutputError(f"{option} {path} already exists; pass --overwrite to replace it, or choose "
                              "another file")
    where = _nearest_existing(path if in_place else path.parent)
    if not where.is_dir():
        raise OutputError(f"{option} {path}: {where} is a file, not a folder")
    failure = _probe(where)
    if failure is not None:
        raise cannot_write(path, failure, option)
    return path


# ----------------------------------------------------------------------------- files
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _place_file(tmp: str, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic, and fails if `path` appeared meanwhile
    except FileExistsError:
        raise OutputError(f"{path} appeared while ferviz was working (another process?); it was left as "
                          "it was. Pass --overwrite to replace it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if path.exists():  # a file system without hard links: check, then rename
            raise OutputError(f"{path} appeared while ferviz was working; pass --overwrite to replace it") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


@contextmanager
def atomic_path(path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield the path of a new, empty temporary file beside `path`, for the block to write (and
    check); when the block ends without error the file becomes `path` in one rename. On error it
    is removed and `path` stays as it was. With ``overwrite=False`` an existing `path` is left as
    it is and the write is refused."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        try:
            yield Path(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
            _place_file(tmp, path, overwrite)
        except OSError as exc:
            raise cannot_write(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(path, mode: str = "wb", *, overwrite: bool = True) -> Iterator:
    """Write to a temporary file beside `path`, fsync, then rename it to `path`: never half a file
    (:func:`atomic_path`, opened in `mode`).

    With ``overwrite=False`` an existing `path` is left as it is and the write is refused.
    """
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, mode) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


# ----------------------------------------------------------------------------- folders
def _place_folder(tmp: Path, out: Path, overwrite: bool, owner: str | tuple[str, ...] | None) -> None:
    try:
        os.rename(tmp, out)  # succeeds when `out` is absent or an empty folder
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise
    if not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder; choose a folder")
    if not overwrite:
        raise OutputError(f"--out {out} was filled by another process while ferviz worked; it was left as "
                          "it was. Pass --overwrite to replace it")
    if not _owned(_entries(out), owner):
        raise OutputError(f"--out {out} holds no {_names(owner)}, so it is not ferviz output of this kind; "
                          "choose another folder")
    old = out.parent / f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.old"
    os.rename(out, old)  # the old folder aside, then the new one in; the old one goes last
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_folder(out, *, overwrite: bool = False, owner: str | tuple[str, ...] | None = None) -> Iterator[Path]:
    """Yield a new temporary folder beside `out`; when the block ends without error it becomes
    `out` in one rename (an old `out` is replaced whole with ``overwrite``, else refused). On
    error the temporary folder is removed and `out` stays as it was."""
    out = Path(out)
    tmp = out.parent / f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()  # plain mkdir (not mkdtemp): the folder gets the usual umask permissions
    except OSError as exc:
        raise cannot_write(out, exc) from None
    try:
        try:
            yield tmp
            _place_folder(tmp, out, overwrite, owner)
        except OSError as exc:
            raise cannot_write(out, exc) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------- run folders
def _holder(fd: int) -> str:
    """What the lock file says about the process that holds it."""
    for _ in range(20):  # the holder writes its line just after taking the lock
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        if text:
            pid, _, command = text.partition(" ")
            return f"process {pid}" + (f" ({command})" if command else "")
        time.sleep(0.05)
    return "another process"


def _busy(folder: Path, holder: str, option: str) -> OutputError:
    return OutputError(f"{option} {folder} is being written by {holder}; wait for it to end, or choose another "
                       "folder")


def check_unlocked(folder, *, option: str = "--out") -> None:
    """Refuse a run folder that another process is writing (without taking its lock)."""
    import fcntl

    try:
        fd = os.open(Path(folder) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return  # no lock file (or none we can read): nobody has locked it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _busy(Path(folder), _holder(fd), option) from None
    finally:
        os.close(fd)


@contextmanager
def run_lock(folder, *, option: str = "--out") -> Iterator[Path]:
    """Hold the lock of run folder `folder` (which must exist) while the block runs.

    A second process is refused with an OutputError naming the holder's process id and command.
    The lock is an ``flock`` on ``folder/.ferviz-lock``: the system drops it when its process
    ends, SIGKILL included, so a killed run never leaves its folder locked.
    """
    import fcntl  # POSIX; imported here so that the module loads anywhere

    folder = Path(folder)
    path = folder / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise cannot_write(folder, exc, option) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise _busy(folder, holder, option) from None
        try:  # the last holder may have removed the file between our open and our lock
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    command = shlex.join(["ferviz" if sys.argv[0].endswith(("ferviz", "__main__.py")) else sys.argv[0],
                          *sys.argv[1:]])
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {command[:300]}\n".encode(), 0)
    try:
        yield folder
    finally:
        Path(path).unlink(missing_ok=True)
        os.close(fd)


def clear_folder(folder: Path) -> None:
    """Remove everything in `folder` but its lock: what ``--overwrite`` does to a locked run folder."""
    for name in _entries(folder):
        entry = folder / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def jsonable(value, fallback=None):
    """``json.dumps(..., default=jsonable)`` for numpy values and paths: every JSON file ferviz writes.

    Any other value raises TypeError, or with `fallback` becomes ``fallback(value)`` (the report
    passes ``repr``: an odd value in a third-party section is shown, not fatal).
    """
    import numpy as np  # only here: this module stays light for the CLI's start-up

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if fallback is not None:
        return fallback(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
