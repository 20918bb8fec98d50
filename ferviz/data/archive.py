"""Read the files of a directory, a zip or a tar archive in place, without extracting anything.

``open_tree(path)`` gives a `Tree`: the regular files it holds (``members()``, relative POSIX
paths) and their bytes (``iter_bytes``, ``read``). The same code reads a folder, a ``.zip``, a
``.tar`` / ``.tar.gz`` / ``.tgz`` / ``.tar.bz2`` / ``.tar.xz`` and a single gzip-compressed file
(``fer2013.csv.gz``); the kind is told by the file's first bytes, not its name.

Guards, since archives come from the internet:

* members with an absolute path, a drive letter or a ``..`` component are ignored (nothing is
  ever extracted, so they could do no harm; they are simply not data), as are links, devices and
  other non-regular members;
* operating-system clutter (``__MACOSX/``, names starting with ``.``, ``Thumbs.db``,
  ``desktop.ini``) is ignored;
* every member is read with a cap on its decompressed size (`MemberTooLarge`), so a zip bomb
  stops at the cap instead of filling memory; a zip member is never inflated past its declared
  size, and a tar extended header (pax, GNU long name), which tarfile reads whole, is refused
  above `MAX_TAR_HEADER_BYTES`;
* in a folder, only regular files are members (a FIFO would block the reader forever);
* a truncated or corrupt archive raises `DataError` naming the archive and, where known, the
  member.
"""

from __future__ import annotations

import gzip
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ferviz.errors import DataError

#: Default cap on one member's decompressed size.
MAX_MEMBER_BYTES = 50 * 2**20
JUNK_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, tarfile.TarError, OSError, ValueError,
                NotImplementedError, RuntimeError, struct.error, IndexError, OverflowError)
#: Cap on one tar extended header (pax, GNU long name): tarfile reads each one whole into memory.
MAX_TAR_HEADER_BYTES = 1 << 20


class MemberError(DataError):
    """One member could not be read (corrupt, encrypted, too large). Its name is in ``member``."""

    def __init__(self, message: str, member: str):
        super().__init__(message)
        self.member = member


class MemberTooLarge(MemberError):
    pass


@dataclass(frozen=True)
class Member:
    name: str  # relative POSIX path inside the tree
    size: int  # declared size in bytes


def safe_name(name: str) -> str | None:
    """The member path normalised to POSIX form, or None for an absolute or ``..`` path."""
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def is_junk(name: str) -> bool:
    """Operating-system clutter: hidden files and folders, ``__MACOSX``, ``Thumbs.db``..."""
    return any(p.startswith(".") or p.lower() in JUNK_NAMES for p in name.split("/"))


def archive_kind(path: Path) -> str | None:
    """"zip", "tar" (any compression), "gzip" (one gzip-compressed file), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "tar" if _gzip_holds_tar(path) else "gzip"
    if head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" or head[257:262] == b"ustar":
        return "tar"
    return None


def _gzip_holds_tar(path: Path) -> bool:
    try:
        with gzip.open(path, "rb") as f:
            block = f.read(512)
    except (OSError, EOFError, zlib.error):
        return True  # a broken gzip: let the tar reader report it
    return block[257:262] == b"ustar" or (len(block) == 512 and _tar_checksum_ok(block))


def _tar_checksum_ok(block: bytes) -> bool:
    try:
        stored = int(block[148:156].split(b"\0")[0].strip() or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(block[:148]) + 8 * 32 + sum(block[156:])


class Tree:
    """The regular files of a directory or archive."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.skipped_unsafe = 0  # members ignored as unsafe (absolute, '..', links)

    def members(self) -> list[Member]:
        raise NotImplementedError

    def iter_bytes(self, names: Iterable[str], max_bytes: int | None = None) -> Iterator[tuple[str, bytes | MemberError]]:
        """(name, bytes) for each wanted member, or (name, MemberError) for one that cannot be read.

        Directories and zips yield in the order given; tar archives in archive order. A broken
        archive (truncated, corrupt directory) raises DataError instead.
        """
        max_bytes = max_bytes or MAX_MEMBER_BYTES
        for name in names:
            data = self._read_member(name, max_bytes)
            yield name, (self._too_large(name, max_bytes) if isinstance(data, bytes) and len(data) > max_bytes
                         else data)

    def _read_member(self, name: str, max_bytes: int) -> bytes | MemberError:
        """Member `name` (more than `max_bytes` of it only when it is larger), or why it cannot be read."""
        raise NotImplementedError

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        for _, data in self.iter_bytes([name], max_bytes):
            if isinstance(data, MemberError):
                raise data
            return data
        raise DataError(f"{self.path}: no member {name!r}")

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _data_name(self, raw: str) -> str | None:
        """An archive member's safe name, or None for one that is not data (unsafe ones are counted)."""
        name = safe_name(raw)
        if name is None:
            self.skipped_unsafe += 1
            return None
        return None if is_junk(name) else name

    def _too_large(self, name: str, max_bytes: int) -> MemberTooLarge:
        return MemberTooLarge(
            f"{self.path}: {name}: more than {max_bytes:,} bytes decompressed; refused "
            f"(limit per member)", name
        )


class DirTree(Tree):
    def members(self) -> list[Member]:
        out = []
        root = str(self.path)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d.lower() not in JUNK_NAMES)
            rel_dir = os.path.relpath(dirpath, root)
            for fn in filenames:
                rel = fn if rel_dir == "." else f"{rel_dir}/{fn}"
                name = safe_name(rel)
                if name is None or is_junk(name):
                    continue
                full = os.path.join(dirpath, fn)
                try:
                    st = os.stat(full)
                except OSError:
                    continue  # a dangling link
                if not stat.S_ISREG(st.st_mode):
                    continue  # a FIFO (reading it would hang), a device, a socket
                out.append(Member(name, st.st_size))
        return out

    def fingerprint(self, members: list[Member]) -> list:
        """(name, size, mtime_ns) of each member: changes when any file changes."""
        out = []
        for m in members:
            try:
                st = os.stat(self.path / m.name)
                out.append((m.name, st.st_size, st.st_mtime_ns))
            except OSError:
                out.append((m.name, -1, -1))
        return out

    def _read_member(self, name, max_bytes):
        try:
            with open(self.path / name, "rb") as f:
                return f.read(max_bytes + 1)
        except OSError as exc:
            return MemberError(f"{self.path / name}: cannot be read ({exc.strerror or exc})", name)


class ZipTree(Tree):
    def __init__(self, path: Path):
        super().__init__(path)
        try:
            self.zf = zipfile.ZipFile(path)
        except _READ_ERRORS as exc:
            raise DataError(f"{path}: not a readable zip archive (truncated or corrupt?): {exc}") from None
        self._infos = {}
        for info in self.zf.infolist():
            if info.filename.endswith("/"):
                continue  # a folder
            name = self._data_name(info.filename)
            if name is None:
                continue
            # a zip entry with the Unix symlink bit is a link, not data
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                self.skipped_unsafe += 1
                continue
            self._infos.setdefault(name, info)

    def members(self) -> list[Member]:
        return [Member(n, i.file_size) for n, i in self._infos.items()]

    def _read_member(self, name, max_bytes):
        info = self._infos.get(name)
        if info is None:
            return MemberError(f"{self.path}: no member {name!r}", name)
        if info.file_size > max_bytes:
            return self._too_large(name, max_bytes)
        try:
            with self.zf.open(info) as f:
                # zipfile stops at the declared size (a lying one then fails the CRC); asking for
                # no more keeps a bomb that lies about its size from inflating up to max_bytes
                return f.read(info.file_size + 1)
        except _READ_ERRORS as exc:
            return MemberError(f"{self.path}: {name}: cannot be read (corrupt or truncated archive?): {exc}", name)

    def close(self):
        self.zf.close()


class _CappedTarInfo(tarfile.TarInfo):
    """TarInfo that refuses an extended header (pax, GNU long name) above `MAX_TAR_HEADER_BYTES`:
    tarfile reads such a header whole, so a huge declared size would be a memory bomb."""

    def _proc_member(self, tf):
        if (self.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                          tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
                and self.size > MAX_TAR_HEADER_BYTES):
            raise tarfile.SubsequentHeaderError(
                f"extended header of {self.size:,} bytes (more than {MAX_TAR_HEADER_BYTES:,}); refused")
        return super()._proc_member(tf)


class TarTree(Tree):
    """A tar archive, compressed or not. Reading is one sequential pass."""

    def __init__(self, path: Path):
        super().__init__(path)
        self._members: list[Member] | None = None
        self.truncated: str | None = None

    def _open(self) -> tarfile.TarFile:
        try:
            return tarfile.open(self.path, "r:*", tarinfo=_CappedTarInfo)
        except _READ_ERRORS as exc:
            raise DataError(f"{self.path}: not a readable tar archive (truncated or corrupt?): {exc}") from None

    def _walk(self, limit: int | None = None):
        """(TarInfo, safe name, tarfile) for each regular member, in archive order."""
        tf = self._open()
        last = None
        count = 0
        try:
            while True:
                try:
                    info = tf.next()
                except _READ_ERRORS as exc:
                    after = f" after member {last!r}" if last else ""
                    raise DataError(f"{self.path}: truncated or corrupt tar archive{after}: {exc}") from None
                if info is None:
                    break
                if not info.isfile():
                    if not info.isdir():
                        self.skipped_unsafe += 1
                    continue
                name = self._data_name(info.name)
                if name is None:
                    continue
                last = name
                yield info, name, tf
                count += 1
                if limit is not None and count >= limit:
                    break
        finally:
            tf.close()

    def members(self, limit: int | None = None, partial: bool = False) -> list[Member]:
        """Regular members in archive order (the first ``limit`` only, if given).

        A truncated archive raises DataError, or with ``partial`` gives the members before the
        damage and keeps the error's message in ``self.truncated``.
        """
        if limit is not None:
            return [Member(n, i.size) for i, n, _ in self._walk(limit)]
        if self._members is None:
            found = []
            try:
                for info, name, _ in self._walk():
                    found.append(Member(name, info.size))
            except DataError as exc:
                if not partial:
                    raise
                self.truncated = str(exc)
                return found
            self._members = found
        return self._members

    def iter_bytes(self, names, max_bytes=None):
        max_bytes = max_bytes or MAX_MEMBER_BYTES
        wanted = set(names)
        seen = set()
        for info, name, tf in self._walk():
            if name not in wanted or name in seen:
                continue
            seen.add(name)
            if info.size > max_bytes:
                yield name, self._too_large(name, max_bytes)
                continue
            try:
                f = tf.extractfile(info)
                # the member holds info.size bytes (<= max_bytes): read() with a larger count
                # would make the buffered reader allocate max_bytes up front, for every image
                data = f.read(info.size + 1) if f is not None else b""
            except _READ_ERRORS as exc:
                raise DataError(f"{self.path}: {name}: truncated or corrupt tar archive: {exc}") from None
            if len(data) != info.size:
                raise DataError(f"{self.path}: {name}: truncated tar archive "
                                f"({len(data)} of {info.size} bytes)")
            yield name, data
            if len(seen) == len(wanted):
                return


class GzipTree(Tree):
    """One gzip-compressed file (``fer2013.csv.gz``): a tree with one member, the name less ``.gz``."""

    def members(self) -> list[Member]:
        name = self.path.name[:-3] if self.path.name.lower().endswith(".gz") else self.path.name + ".out"
        return [Member(name, -1)]

    def _read_member(self, name, max_bytes):
        if name != self.members()[0].name:
            return MemberError(f"{self.path}: no member {name!r}", name)
        try:
            with gzip.open(self.path, "rb") as f:
                return f.read(max_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{self.path}: truncated or corrupt gzip file: {exc}") from None


def open_tree(path: Path) -> Tree:
    """A Tree for a directory or an archive. Raises DataError for anything else."""
    path = Path(path)
    if path.is_dir():
        return DirTree(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    kind = archive_kind(path)
    if kind == "zip":
        return ZipTree(path)
    if kind == "tar":
        return TarTree(path)
    if kind == "gzip":
        return GzipTree(path)
    raise DataError(f"{path}: not a folder, a zip or a tar archive")


def suffix(name: str) -> str:
    """The lower-case extension of a member name (``.jpg``), '' when none."""
    base = name.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[dot:].lower() if dot > 0 else ""
