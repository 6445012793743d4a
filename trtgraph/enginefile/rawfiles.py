"""Bytes and files without pickle: byte views of engines, reads of regular files only (FIFOs,
devices, directories refused unopened), and atomic writes with the permissions a plain write gives."""
from __future__ import annotations

import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import EngineFormatError, NotARegularFileError, SidecarSchemaError


# --------------------------------------------------------------------------- engine bytes

def _buffer(data) -> memoryview:
    """A byte view of bytes / bytearray / memoryview / IHostMemory / uint8 tensor, without copying."""
    if isinstance(data, torch.Tensor):
        return memoryview(data.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    if isinstance(data, np.ndarray):
        return memoryview(np.ascontiguousarray(data).reshape(-1).view(np.uint8))
    return memoryview(data).cast("B")


def engine_tensor(data) -> torch.Tensor:
    """The engine as a 1-D CPU uint8 tensor (one copy at most)."""
    if isinstance(data, torch.Tensor):
        if data.dtype != torch.uint8 or data.dim() != 1:
            raise EngineFormatError(f"an engine tensor must be 1-D uint8, got {data.dtype} of shape {tuple(data.shape)}")
        return data.detach().cpu().contiguous()
    buf = bytearray(_buffer(data))
    return torch.frombuffer(buf, dtype=torch.uint8) if buf else torch.empty(0, dtype=torch.uint8)

_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISDIR, "a directory"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _require_regular(st: os.stat_result, path, what: str):
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "not a regular file")
        raise NotARegularFileError(f"{path}: the {what} is {kind}, not a regular file; refused without reading it")


def regular_file_stat(path, what: str = "engine file") -> Optional[os.stat_result]:
    """``os.stat`` of ``path`` (None when it does not exist); a FIFO, device, directory or socket is
    refused with :class:`NotARegularFileError` before anything opens it."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        raise EngineFormatError(f"{path}: cannot read the {what} ({exc})") from None
    _require_regular(st, path, what)
    return st


def _read_regular(path, what: str, limit: Optional[int] = None) -> np.ndarray:
    """The bytes of regular file ``path``: stat first (non-regular files are never opened), then a
    non-blocking open and an fstat of the descriptor (the path may have been swapped in between)."""
    if regular_file_stat(path, what) is None:
        raise EngineFormatError(f"{path}: no such {what}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise EngineFormatError(f"{path}: cannot read the {what} ({exc})") from None
    with os.fdopen(fd, "rb", buffering=0) as f:
        st = os.fstat(fd)
        _require_regular(st, path, what)
        if limit is not None and st.st_size > limit:
            raise SidecarSchemaError(f"{path}: the {what} is {st.st_size} bytes, more than the limit of {limit}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        arr = np.empty(st.st_size, dtype=np.uint8)
        view, got = memoryview(arr), 0
        try:
            while got < st.st_size:
                n = f.readinto(view[got:])
                if not n:
                    break
                got += n
            grew = f.read(1)
        except OSError as exc:
            raise EngineFormatError(f"{path}: cannot read the {what} ({exc})") from None
        if got != st.st_size or grew:
            raise EngineFormatError(f"{path}: the {what} changed while it was read ({st.st_size} bytes at open)")
    return arr

# --------------------------------------------------------------------------- files

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (/proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it: restore it at once
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _new_file_mode(path: Path) -> int:
    """The mode a plain ``open(path, "wb")`` would leave: an existing regular file keeps its permission
    bits, a new file gets 0o666 minus the umask."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    return 0o666 & ~current_umask()


def atomic_write_bytes(path, data) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``,
    with the permissions a plain write would give (the umask; an existing file's mode is kept)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        else:
            os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(_buffer(data) if not isinstance(data, str) else data.encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
