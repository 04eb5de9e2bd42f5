"""One process at a time in a directory: an OS advisory lock that names its holder.

Two processes writing the same files (checkpoints, metrics, reports) into one directory corrupt
each other's work without an error. :meth:`DirectoryLock.acquire` takes ``fcntl.flock`` on a
``.lock`` file in the directory, without waiting: the kernel holds it for the open file and drops
it when the process ends in any way, SIGKILL included, so a killed holder never leaves the
directory locked. The file records the holder (pid, host, start time, command) so that a refusal
can say who holds the directory; a file left by a killed holder is a stale record, not a lock.
On release the holder deletes the file (and the directory, when acquiring created it and
nothing else was written there).

Where ``fcntl`` does not exist (Windows), directories are not locked: acquiring succeeds and says
so once on stderr. On network filesystems ``flock`` is as reliable as their lock support (Linux
NFS maps it onto NFS locks).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from ..errors import ClassicNetsError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


@dataclass(frozen=True)
class Holder:
    """Who holds a directory: what a refusal tells the user about the other process."""

    pid: int
    host: str
    started: float  # seconds since the epoch
    command: str

    @classmethod
    def current(cls) -> Holder:
        argv = list(sys.argv) or ["python"]
        program = Path(argv[0])
        # `python -m classicnets ...` has the package's __main__.py as argv[0]
        argv[0] = program.parent.name if program.name == "__main__.py" else program.name
        return cls(os.getpid(), socket.gethostname(), time.time(), shlex.join(argv))

    def describe(self, max_command: int = 120) -> str:
        """``pid 1234 on host, started 2026-12-07 15:02:11: classicnets train ...``, one line."""
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        command = " ".join(self.command.split())
        if len(command) > max_command:
            command = command[: max_command - 3] + "..."
        return f"pid {self.pid} on {self.host}, started {started}: {command}"


class DirectoryInUseError(ClassicNetsError):
    """A directory that another process holds; ``holder`` is None when it could not be read."""

    def __init__(self, directory: Path, holder: Holder | None) -> None:
        self.directory, self.holder = directory, holder
        super().__init__(f"{directory} is in use by another process ({self.who})")

    @property
    def who(self) -> str:
        return self.holder.describe() if self.holder is not None else "holder unknown"


class DirectoryLock:
    """A held directory; release it with :meth:`release` or by leaving a ``with`` block."""

    def __init__(self, directory: Path, fd: int | None, created: Path | None) -> None:
        self.directory, self._fd, self._created = directory, fd, created

    @classmethod
    def acquire(cls, directory: str | Path) -> DirectoryLock:
        """Hold ``directory`` (created if missing) or raise :class:`DirectoryInUseError` at once."""
        directory = Path(directory)
        created = _first_missing(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            print(f"note: {directory} is not locked (no fcntl here)", file=sys.stderr)
            return cls(directory, None, created)
        try:
            fd = _lock_file(directory / LOCK_NAME)
        except BaseException:
            _remove_created(directory, created)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(asdict(Holder.current())).encode())
        return cls(directory, fd, created)

    def release(self) -> None:
        """Delete the lock file, then unlock; a process that opened the old file sees it gone
        (:func:`_lock_file` retries). Idempotent."""
        if self._fd is None:
            return
        (self.directory / LOCK_NAME).unlink(missing_ok=True)
        os.close(self._fd)  # closing the last descriptor drops the flock
        self._fd = None
        _remove_created(self.directory, self._created)

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def ensure_free(directory: str | Path) -> None:
    """Raise :class:`DirectoryInUseError` when a process holds ``directory`` now. A check, not
    a hold: it creates nothing, and a process may take the directory right after it."""
    path = Path(directory) / LOCK_NAME
    if fcntl is None or not path.is_file():
        return
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:  # gone meanwhile, or not ours to open: acquiring will tell
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise DirectoryInUseError(Path(directory), read_holder(directory)) from None
    finally:
        os.close(fd)


def read_holder(directory: str | Path) -> Holder | None:
    """The holder a directory's lock file records (None: no file, or not written yet)."""
    try:
        return Holder(**json.loads((Path(directory) / LOCK_NAME).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _lock_file(path: Path) -> int:
    """An open descriptor of ``path`` holding its exclusive flock."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DirectoryInUseError(path.parent, read_holder(path.parent)) from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the previous holder deleted this file as we opened it: open the new one


def _first_missing(directory: Path) -> Path | None:
    """The outermost of ``directory`` and its parents that does not exist (None: it exists)."""
    missing = None
    for p in (directory, *directory.parents):
        if p.is_dir():
            break
        missing = p
    return missing


def _remove_created(directory: Path, top: Path | None) -> None:
    """Remove the folders acquiring created, ``directory`` up to ``top``, where they are empty."""
    if top is None:
        return
    for p in (directory, *directory.parents):
        try:
            p.rmdir()
        except OSError:  # something was written there: it stays, and so do its parents
            return
        if p == top:
            return
