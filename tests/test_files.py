"""Output files: atomic replacement keeping mode and owner, links, devices, FIFOs, long names, errors."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading

import pytest

from graphviz_bp import files
from graphviz_bp.files import check_output_path, ensure_directory, write_atomic
from graphviz_bp.drawing.render import write_atomic as reexported


def test_render_reexports_write_atomic():
    assert reexported is write_atomic


def test_new_file_gets_the_umask_mode_and_the_umask_is_never_touched(tmp_path, monkeypatch):
    old = os.umask(0o027)  # the test itself sets it, before the code under test runs
    try:
        def no_umask(mask):
            raise AssertionError("os.umask called: other threads would create world-writable files")

        monkeypatch.setattr(os, "umask", no_umask)
        target = tmp_path / "new.svg"
        assert write_atomic(target, b"<svg/>") == target
        assert target.read_bytes() == b"<svg/>"
        assert stat.S_IMODE(target.stat().st_mode) == 0o640
    finally:
        monkeypatch.undo()
        os.umask(old)


def test_other_threads_never_see_a_zero_umask(tmp_path):
    old = os.umask(0o022)
    try:
        stop = threading.Event()
        modes = []

        def create():
            i = 0
            while not stop.is_set():
                p = tmp_path / f"other{i}"
                fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o666)
                os.close(fd)
                modes.append(stat.S_IMODE(p.stat().st_mode))
                p.unlink()
                i += 1

        t = threading.Thread(target=create)
        t.start()
        try:
            for i in range(300):
                write_atomic(tmp_path / "out.svg", b"x" * i)
        finally:
            stop.set()
            t.join()
        assert modes and set(modes) == {0o644}
    finally:
        os.umask(old)


def test_existing_file_keeps_its_mode(tmp_path):
    target = tmp_path / "a.svg"
    target.write_bytes(b"old")
    os.chmod(target, 0o751)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o751


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file to another user")
def test_existing_file_keeps_its_owner_when_root(tmp_path):
    target = tmp_path / "a.svg"
    target.write_bytes(b"old")
    os.chown(target, 1234, 5678)
    os.chmod(target, 0o4640)  # set-uid survives: chmod comes after chown
    write_atomic(target, b"new")
    st = target.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o4640)


def test_symlink_to_a_regular_file_writes_the_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.svg"
    real.write_bytes(b"old")
    os.chmod(real, 0o600)
    link = tmp_path / "link.svg"
    link.symlink_to("real.svg")
    assert write_atomic(link, b"new") == link  # the path as given
    assert link.is_symlink() and os.readlink(link) == "real.svg"
    assert real.read_bytes() == b"new" and stat.S_IMODE(real.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.svg", "real.svg"]


def test_dangling_symlink_creates_its_target(tmp_path):
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.svg"
    link.symlink_to("sub/made.svg")
    write_atomic(link, b"data")
    assert link.is_symlink() and (tmp_path / "sub" / "made.svg").read_bytes() == b"data"


def test_symlink_to_a_device_writes_the_device_and_keeps_both(tmp_path):
    # never /dev/null itself: old code (as root) would replace it; only a link in tmp_path can suffer
    link = tmp_path / "null.svg"
    link.symlink_to("/dev/null")
    write_atomic(link, b"to the bit bucket")
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert list(tmp_path.iterdir()) == [link]


def test_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe.svg"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_atomic(fifo, b"through the pipe" * 10000)  # more than a pipe buffer
    reader.join(timeout=30)
    assert got == [b"through the pipe" * 10000]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert list(tmp_path.iterdir()) == [fifo]


def test_own_descriptor_is_written_through_keeping_the_shells_redirection(tmp_path):
    # /proc/self/fd/1 in a child whose stdout appends to a file: the old content stays, ours follows
    out = tmp_path / "log.txt"
    out.write_bytes(b"before\n")
    code = ("import sys; from graphviz_bp.files import write_atomic; "
            "write_atomic(sys.argv[1], b'drawn\\n'); write_atomic(sys.argv[2], b'again\\n')")
    link = tmp_path / "stdout-link"
    link.symlink_to("/dev/stdout")
    with open(out, "ab") as f:
        subprocess.run([sys.executable, "-c", code, "/proc/self/fd/1", str(link)], stdout=f, check=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(files.__file__))))
    assert out.read_bytes() == b"before\ndrawn\nagain\n"
    assert link.is_symlink()


def test_255_byte_file_name_works(tmp_path):
    name = "é" * 125 + "x.svg"  # 250 + 5 bytes
    assert len(name.encode()) == 255
    target = tmp_path / name
    assert check_output_path(target) == target
    write_atomic(target, b"long")
    assert target.read_bytes() == b"long"
    assert [p.name for p in tmp_path.iterdir()] == [name]
    with pytest.raises(OSError, match="too long") as err:
        check_output_path(tmp_path / ("x" * 256))
    assert err.value.errno == errno.ENAMETOOLONG


def test_unwritable_directory_names_the_users_path_not_a_temporary_file(tmp_path, monkeypatch):
    real_open = os.open

    def denied(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    target = tmp_path / "a.svg"
    with pytest.raises(PermissionError) as err:
        write_atomic(target, b"x")
    assert str(err.value) == f"cannot write {str(target)!r}: permission denied"
    assert ".tmp" not in str(err.value) and ".gbp" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_read_only_file_system_is_said(tmp_path, monkeypatch):
    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system", src)

    monkeypatch.setattr(os, "replace", read_only)
    target = tmp_path / "a.svg"
    with pytest.raises(OSError, match="read-only file system") as err:
        write_atomic(target, b"x")
    assert err.value.errno == errno.EROFS and ".tmp" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_temporary_file_is_synced_before_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    write_atomic(tmp_path / "a.svg", b"x")
    assert calls[:2] == ["fsync", "replace"]


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError])
def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, failure):
    target = tmp_path / "a.svg"
    target.write_bytes(b"old")

    def interrupted(fd):
        raise failure()

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(failure):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.svg"]


def test_check_output_path_errors_are_one_line_naming_the_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_bytes(b"")
    (tmp_path / "dir").mkdir()
    cases = [
        ("a/b.svg", FileNotFoundError, "cannot write 'a/b.svg': there is no directory 'a'"),
        ("dir", IsADirectoryError, "cannot write 'dir': it is a directory"),
        ("file/b.svg", NotADirectoryError, "cannot write 'file/b.svg': 'file' is not a directory"),
        ("file/x/b.svg", NotADirectoryError, "cannot write 'file/x/b.svg': 'file' is not a directory"),
    ]
    for path, kind, message in cases:
        with pytest.raises(kind) as err:
            check_output_path(path)
        assert str(err.value) == message
        with pytest.raises(kind) as err:  # write_atomic says the same
            write_atomic(path, b"x")
        assert str(err.value) == message
    assert check_output_path("new.svg") == files.Path("new.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file"]  # nothing was created


def test_check_output_path_accepts_devices_and_links(tmp_path):
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    assert check_output_path(link) == link
    assert check_output_path("/dev/null") == files.Path("/dev/null")
    dangling = tmp_path / "dangling"
    dangling.symlink_to("nowhere/x.svg")
    with pytest.raises(FileNotFoundError, match="there is no directory"):
        check_output_path(dangling)


def test_ensure_directory(tmp_path):
    made = ensure_directory(tmp_path / "a" / "b")
    assert made == tmp_path / "a" / "b" and made.is_dir()
    assert ensure_directory(made) == made  # exists already
    with pytest.raises(NotADirectoryError) as err:
        ensure_directory("/dev/null")
    assert str(err.value) == "'/dev/null' is not a directory"
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(NotADirectoryError) as err:
        ensure_directory(tmp_path / "f" / "sub")
    assert str(err.value) == f"cannot create directory {str(tmp_path / 'f' / 'sub')!r}: " \
                             f"{str(tmp_path / 'f')!r} is not a directory"
