"""Output files: checked before work starts, replaced atomically, devices and pipes written in place."""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import tempfile
from pathlib import Path

__all__ = ["check_output_path", "ensure_directory", "write_atomic", "write_files"]

#: Our own file descriptors by name: written through the descriptor itself, so ``-o /dev/stdout``
#: keeps the shell's redirection (``>> log`` appends, a pipe stays a pipe).
_OWN_FD = re.compile(r"/dev/(?:fd/(?P<fd>\d+)|(?P<std>stdout|stderr))|/proc/(?P<pid>self|\d+)/fd/(?P<pfd>\d+)")

_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "it is on a read-only file system",
    errno.EISDIR: "it is a directory",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENXIO: "nothing is reading from it",
    errno.ETXTBSY: "it is a running program",
    errno.EFBIG: "the file would be too large",
}


def _oserror(cls: type[OSError], code: int, message: str) -> OSError:
    """``cls(message)`` carrying ``code`` as its errno: prints as the message alone."""
    exc = cls(message)
    exc.errno = code
    return exc


def _error(path: str | os.PathLike[str], exc: OSError) -> OSError:
    """``exc`` as one line naming the user's ``path`` (never a temporary file), same class and errno."""
    if exc.errno == errno.ENOENT:
        return _no_directory(Path(path))
    if exc.errno == errno.ENOTDIR:
        return _not_a_directory(Path(path))
    reason = _REASONS.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()
    return _oserror(type(exc), exc.errno or 0, f"cannot write {str(path)!r}: {reason}")


def _directory(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _no_directory(path: Path) -> OSError:
    directory = _directory(Path(os.path.realpath(path)) if path.is_symlink() else path)
    if directory.is_dir():  # e.g. /proc, where nothing can be created
        return _oserror(FileNotFoundError, errno.ENOENT,
                        f"cannot write {str(path)!r}: no file can be created in {str(directory)!r}")
    return _oserror(FileNotFoundError, errno.ENOENT,
                    f"cannot write {str(path)!r}: there is no directory {str(directory)!r}")


def _not_a_directory(path: Path) -> OSError:
    blocker = next((p for p in reversed(path.parents) if str(p) not in ("", ".") and p.exists()
                    and not p.is_dir()), _directory(path))
    return _oserror(NotADirectoryError, errno.ENOTDIR,
                    f"cannot write {str(path)!r}: {str(blocker)!r} is not a directory")


def _own_fd(path: str) -> int | None:
    """The descriptor ``path`` names, directly or through symbolic links, when it is one of this
    process's own (/dev/stdout, /dev/fd/3, /proc/self/fd/1), else None."""
    p = os.path.abspath(path)
    for _ in range(40):
        m = _OWN_FD.fullmatch(p)
        if m is not None:
            if m["pid"] not in (None, "self", str(os.getpid())):
                return None
            if m["std"]:
                return 1 if m["std"] == "stdout" else 2
            return int(m["fd"] or m["pfd"])
        if not os.path.islink(p):
            return None
        p = os.path.normpath(os.path.join(os.path.dirname(p), os.readlink(p)))
    return None


def _in_proc(name: str) -> bool:
    """Whether ``name`` leads into /proc, where files are written in place, never replaced."""
    return os.path.realpath(name).startswith("/proc/")


def _existing(path: str) -> os.stat_result | None:
    """``stat`` of ``path`` following symbolic links; None if it (or a dangling link's target) is missing."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` can be written, before any expensive work; return it as a Path.

    Raises FileNotFoundError (no such directory), NotADirectoryError (a parent is a file),
    IsADirectoryError, PermissionError or OSError (read-only file system, name too long), each one
    line naming ``path``.
    """
    p = Path(path)
    name = os.fspath(p)
    if _own_fd(name) is not None:
        return p
    try:
        st = _existing(name)
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        if st is not None and (not stat.S_ISREG(st.st_mode) or _in_proc(name)):  # written in place
            if not os.access(name, os.W_OK):
                raise PermissionError(errno.EACCES, "Permission denied")
            return p
        target = Path(os.path.realpath(name))  # a symbolic link's target is what gets written
        directory = _directory(target)
        dst = os.stat(directory)
        if not stat.S_ISDIR(dst.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
        if len(os.fsencode(target.name)) > _name_max(directory):
            raise OSError(errno.ENAMETOOLONG, "File name too long")
        if not os.access(directory, os.W_OK | os.X_OK):
            read_only = getattr(os, "ST_RDONLY", 1) & os.statvfs(directory).f_flag
            raise OSError(errno.EROFS, "") if read_only else PermissionError(errno.EACCES, "")
        # a file made and removed at once, as the write will make its temporary file: /proc, /sys
        # and other file systems that let root "write" to a directory make none
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".graphviz-bp-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _error(p, exc) from None
    return p


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def ensure_directory(path: str | os.PathLike[str]) -> Path:
    """Create the output directory ``path`` (and its parents) unless it exists; return it as a Path.

    Raises NotADirectoryError when ``path`` or one of its parents is not a directory.
    """
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise _oserror(NotADirectoryError, errno.ENOTDIR, f"{str(p)!r} is not a directory") from None
    except NotADirectoryError:
        blocker = next((q for q in reversed(p.parents) if q.exists() and not q.is_dir()), p.parent)
        raise _oserror(NotADirectoryError, errno.ENOTDIR, f"cannot create directory {str(p)!r}: "
                       f"{str(blocker)!r} is not a directory") from None
    except OSError as exc:
        reason = _REASONS.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()
        raise _oserror(type(exc), exc.errno or 0, f"cannot create directory {str(p)!r}: {reason}") from None
    return p


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o666) -> Path:
    """Write ``data`` to ``path``; return ``path`` as given.

    A regular file (or a new one) is replaced atomically through a temporary file beside it: readers
    see the old file or the whole new one, the old file's mode (and owner, where we may) is kept, and
    a failure, even KeyboardInterrupt, leaves nothing behind. A symbolic link's target is written, not
    the link. A device, FIFO or one of our own descriptors (/dev/stdout) is written in place. A new
    file gets ``mode`` less the umask. Errors are one line naming ``path``.
    """
    p = Path(path)
    name = os.fspath(p)
    try:
        fd = _own_fd(name)
        if fd is not None:
            _write_all(fd, data)
            return p
        st = _existing(name)
        if st is not None and (not stat.S_ISREG(st.st_mode) or _in_proc(name)):
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory")
            _write_in_place(name, data)
        else:
            _replace(os.path.realpath(name), data, st, mode)
    except OSError as exc:
        raise _error(p, exc) from None
    return p


def write_files(directory: str | os.PathLike[str], files: dict[str, bytes], *, index: str = "steps.txt") -> list[Path]:
    """Write a set of files made beforehand (each atomically) into ``directory``, made if missing;
    return their paths. Files listed in an ``index`` file left there by an earlier set, and not in
    this one, are removed, so that no stale frame outlives a shorter set."""
    folder = ensure_directory(directory)
    stale: list[str] = []
    old = folder / index
    if index in files and old.is_file():
        try:
            stale = [line.split(":", 1)[0] for line in old.read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError):
            stale = []
    paths = [write_atomic(folder / name, data) for name, data in files.items()]
    for name in stale:
        if name and name not in files and "/" not in name and name.startswith("step-"):
            try:
                (folder / name).unlink()
            except OSError:
                pass
    return paths


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_in_place(name: str, data: bytes) -> None:
    """Open an existing device or FIFO for writing (never creating anything) and write ``data``."""
    fd = os.open(name, os.O_WRONLY | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _replace(target: str, data: bytes, old: os.stat_result | None, mode: int) -> None:
    directory = os.path.dirname(target) or "."
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".gbp-{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, mode)  # the kernel applies the umask and default ACLs
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary name")
    try:
        try:
            _write_all(fd, data)
            if old is not None:
                _keep_owner_and_mode(fd, old)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _sync_directory(directory)


def _keep_owner_and_mode(fd: int, old: os.stat_result) -> None:
    new = os.fstat(fd)
    if (new.st_uid, new.st_gid) != (old.st_uid, old.st_gid):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)  # as root; a group we belong to otherwise
        except OSError:
            try:
                os.fchown(fd, -1, old.st_gid)
            except OSError:
                pass
    os.fchmod(fd, stat.S_IMODE(old.st_mode))  # after chown, which may clear set-id bits


def _sync_directory(directory: str) -> None:
    """Make the rename durable; best effort (not every system can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
