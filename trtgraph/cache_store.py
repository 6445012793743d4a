"""The engine cache's folder: where it is, its size limit, its entries (engine + sidecar, or a
hybrid folder, recording their own key), least-recently-used eviction and clearing."""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import NamedTuple, Optional

from . import serialization as ser
from .errors import InputError


DEFAULT_MAX_BYTES = 10 * 1024 ** 3
_ENTRY_RE = re.compile(r"^[0-9a-f]{64}\.engine$")
_HYBRID_RE = re.compile(r"^[0-9a-f]{64}\.hybrid$")
_HYBRID_TMP_RE = re.compile(r"^\.[0-9a-f]{64}\.hybrid\..*\.tmp$")
_TMP_RE = re.compile(r"^\.([0-9a-f]{64}\.engine(\.json)?\.|trtgraph-probe-).*\.tmp$")
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def default_cache_dir() -> Path:
    env = os.environ.get("TRTGRAPH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "trtgraph"


def _folder(cache_dir) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def cache_disabled_by_env() -> bool:
    return os.environ.get("TRTGRAPH_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no", "off")


def max_cache_bytes(value=None) -> int:
    """The size limit: ``value``, else ``$TRTGRAPH_CACHE_MAX_BYTES``, else 10 GiB."""
    where = "cache_max_bytes"
    if value is None:
        value = os.environ.get("TRTGRAPH_CACHE_MAX_BYTES", "").strip() or DEFAULT_MAX_BYTES
        where = "TRTGRAPH_CACHE_MAX_BYTES"
    if isinstance(value, str):
        m = re.fullmatch(r"(\d+)\s*([KMGT]?)(?:i?B)?", value.strip(), re.IGNORECASE)
        if not m:
            raise InputError(f"{where}={value!r} is not a size: write a number of bytes, optionally with a "
                             "K/M/G/T suffix, e.g. 20G")
        value = int(m.group(1)) * _UNITS[m.group(2).upper()]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{where}={value!r}: the cache size limit must be an integer >= 0 (bytes)")
    return value


# --------------------------------------------------------------------------- entries

class CacheEntry(NamedTuple):
    key: str
    path: Path
    size: int          # engine + sidecar bytes
    last_used: float   # the engine file's access time (seconds since the epoch)
    precision: str
    inputs: str        # "name dtype shape, ..."


def _read_hybrid_entry(path: Path) -> Optional[CacheEntry]:
    """The entry of hybrid folder ``path`` when trtgraph's cache wrote it (its hybrid.json records its
    own key), else None."""
    from .hybrid.files import PROGRAM_FILE

    if not _HYBRID_RE.match(path.name) or path.is_symlink() or not path.is_dir():
        return None
    program = path / PROGRAM_FILE
    try:
        st = program.lstat()
        if not program.is_file() or program.is_symlink() or st.st_size > (64 << 20):
            return None
        doc = json.loads(program.read_bytes())
        if not isinstance(doc, dict) or (doc.get("extra") or {}).get("cache_key") != path.name[:-len(".hybrid")]:
            return None
        size = 0
        for p in path.rglob("*"):
            if p.is_file() and not p.is_symlink():
                size += p.stat().st_size
        names = [str(e.get("name")) for e in doc.get("inputs") or [] if isinstance(e, dict)]
        segments = len(doc.get("segments") or [])
    except (OSError, ValueError, AttributeError, TypeError, RecursionError):
        return None
    return CacheEntry(path.name[:-len(".hybrid")], path, size, st.st_atime, str(doc.get("precision")),
                      f"hybrid, {segments} segment(s); inputs {', '.join(names)}")


def _read_entry(path: Path) -> Optional[CacheEntry]:
    """The entry of ``path`` when trtgraph's cache wrote it (its sidecar records its own key), else None."""
    if _HYBRID_RE.match(path.name):
        return _read_hybrid_entry(path)
    if not _ENTRY_RE.match(path.name):
        return None
    side = ser.sidecar_path(path)
    try:
        st, side_st = path.stat(), side.stat()
        if side_st.st_size > (1 << 22):  # far larger than any sidecar trtgraph writes
            return None
        doc = json.loads(side.read_bytes())
        if not isinstance(doc, dict) or (doc.get("extra") or {}).get("cache_key") != path.name[:-len(".engine")]:
            return None
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    inputs = []
    for spec in doc.get("inputs") or []:
        if isinstance(spec, dict):
            inputs.append(f"{spec.get('name')} {spec.get('dtype')} {tuple(spec.get('shape') or ())}")
    return CacheEntry(path.name[:-len(".engine")], path, st.st_size + side_st.st_size, st.st_atime,
                      str(doc.get("precision")), ", ".join(inputs))


def cache_entries(cache_dir=None) -> list:
    """The entries trtgraph wrote in ``cache_dir``, least recently used first."""
    folder = _folder(cache_dir)
    if not folder.is_dir():
        return []
    found = [e for e in map(_read_entry, list(folder.glob("*.engine")) + list(folder.glob("*.hybrid")))
             if e is not None]
    return sorted(found, key=lambda e: (e.last_used, e.key))


def _remove(entry: CacheEntry):
    if entry.path.name.endswith(".hybrid"):
        from .hybrid.files import remove_hybrid_folder

        remove_hybrid_folder(entry.path)  # only the files trtgraph writes there; hybrid.json (the marker) last
        return
    ser.sidecar_path(entry.path).unlink(missing_ok=True)  # the marker first: a half-removed entry is no entry
    entry.path.unlink(missing_ok=True)


def evict(cache_dir=None, max_bytes=None, keep=()) -> list:
    """Remove least recently used entries until the entries of ``cache_dir`` total at most
    ``max_bytes`` (see :func:`max_cache_bytes`); keys in ``keep`` stay. Returns the removed entries."""
    limit = max_cache_bytes(max_bytes)
    entries = cache_entries(cache_dir)
    total = sum(e.size for e in entries)
    removed = []
    for e in entries:
        if total <= limit:
            break
        if e.key in keep:
            continue
        try:
            _remove(e)
        except OSError:
            continue
        total -= e.size
        removed.append(e)
    return removed


def _touch(path: Path):
    """Record a use: set the access time to now, keep the modification time."""
    try:
        st = path.stat()
        os.utime(path, ns=(time.time_ns(), st.st_mtime_ns))
    except OSError:
        pass


def writable_reason(folder: Path) -> Optional[str]:
    """None when entries can be written in ``folder`` (created if needed), else why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".trtgraph-probe-", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return None


def clear_cache(cache_dir=None) -> int:
    """Delete the entries trtgraph's cache wrote in ``cache_dir`` (engine + sidecar) and its leftover
    temporary files; any other file stays. Returns the number of entries removed."""
    folder = _folder(cache_dir)
    if not folder.is_dir():
        return 0
    removed = 0
    for e in cache_entries(folder):
        _remove(e)
        removed += 1
    for p in folder.iterdir():
        if _TMP_RE.match(p.name):
            p.unlink(missing_ok=True)
        elif _HYBRID_TMP_RE.match(p.name) and p.is_dir() and not p.is_symlink():
            from .hybrid.files import remove_hybrid_folder

            remove_hybrid_folder(p)  # a hybrid entry being written or replaced when a process died
    return removed
