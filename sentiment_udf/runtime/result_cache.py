"""Never score the same text twice: a bounded in-process memo of results (always on) and an
opt-in persistent cache of results in a SQLite file (WAL mode, shared by processes).

Not to be confused with the registry of loaded models (registry.py): these hold *answers*.

Keys cover everything that changes an answer: the model's file checksums, max_length, long-text
mode, labels, pair input, SCORING_VERSION, and the exact text(s), as length-prefixed fields under
SHA-256 (the first 16 bytes, 128 bits). Values are every class probability as little-endian
float64 bytes, so a cached answer equals a fresh one bit for bit.

The persistent cache never fails a query: a locked, full, read-only, corrupt, foreign or newer
file means one warning and scoring without it.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import sqlite3
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

# Raise when a change to the runtime changes any answer (tokenizing, windows, softmax, ...).
SCORING_VERSION = 1
SCHEMA_VERSION = 1
APPLICATION = "sentiment-udf result cache"
DEFAULT_MEMO_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_ENTRIES = 2_000_000
MEMO_ENTRY_OVERHEAD = 200  # bytes a memo entry costs beyond its key and value (dict, objects)
LOOKUP_CHUNK = 500  # keys per SELECT ... IN (...)
BUSY_TIMEOUT_MS = 10_000  # a writer holds the lock for milliseconds; a loaded machine stretches it
FORK_WAIT_S = BUSY_TIMEOUT_MS / 1000 + 5  # how long a fork waits for a thread to leave SQLite
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "afs", "lustre"}


class ResultCacheWarning(RuntimeWarning):
    """The persistent result cache could not be used; scoring goes on without it."""


def model_fingerprint(
    checksums: Mapping[str, str], options: Mapping[str, object], labels: Iterable[str]
) -> bytes:
    """What makes a model's answers what they are, as one digest."""
    digest = hashlib.sha256(f"sentiment-udf scoring {SCORING_VERSION}".encode())
    for name in sorted(checksums):
        _field(digest, f"file {name} {checksums[name]}")
    for name in sorted(options):
        _field(digest, f"option {name} {options[name]!r}")
    _field(digest, "labels " + "\x1f".join(labels))
    return digest.digest()


def entry_key(fingerprint: bytes, texts: tuple[str, ...]) -> bytes:
    """The key of one answer: the model's fingerprint and the exact text(s), length-prefixed."""
    digest = hashlib.sha256(fingerprint)
    for text in texts:
        _field(digest, text)
    return digest.digest()[:16]


def _field(digest, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)


def to_bytes(probs: np.ndarray) -> bytes:
    return np.asarray(probs, dtype="<f8").tobytes()


def from_bytes(data: bytes, labels: int) -> np.ndarray | None:
    return np.frombuffer(data, dtype="<f8").copy() if len(data) == 8 * labels else None


class ResultMemo:
    """In-process answers, least recently used dropped first, bounded in bytes."""

    def __init__(self, max_bytes: int = DEFAULT_MEMO_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0  # answers found here
        self.misses = 0  # answers looked for and not found
        self.writes = 0  # answers stored

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get_many(self, keys: Iterable[bytes]) -> dict[bytes, bytes]:
        found = {}
        with self._lock:
            asked = 0
            for key in keys:
                asked += 1
                value = self._entries.get(key)
                if value is not None:
                    self._entries.move_to_end(key)
                    found[key] = value
            self.hits += len(found)
            self.misses += asked - len(found)
        return found

    def put_many(self, items: Mapping[bytes, bytes]) -> None:
        with self._lock:
            for key, value in items.items():
                if key in self._entries or self.max_bytes <= 0:
                    continue
                self._entries[key] = value
                self.writes += 1
                self._bytes += len(key) + len(value) + MEMO_ENTRY_OVERHEAD
            while self._bytes > self.max_bytes and self._entries:
                old_key, old_value = self._entries.popitem(last=False)
                self._bytes -= len(old_key) + len(old_value) + MEMO_ENTRY_OVERHEAD

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def counters(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "writes": self.writes}

    def _after_fork_in_child(self, held: bool) -> None:
        """`held`: the fork held the lock, so no other thread was halfway through a change."""
        self._lock = threading.Lock()
        if not held:  # another thread was stuck in it: start empty, not torn
            self._entries, self._bytes = OrderedDict(), 0


def memo_bytes_from_environment() -> int:
    """SENTIMENT_UDF_MEMO_BYTES as a byte count (0 switches the memo off); a value that is not
    a whole number from 0 to 2**40 warns once and keeps the default."""
    raw = os.environ.get("SENTIMENT_UDF_MEMO_BYTES")
    if raw is None or not raw.strip():
        return DEFAULT_MEMO_BYTES
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if not 0 <= value <= 2**40:
        warnings.warn(
            f"SENTIMENT_UDF_MEMO_BYTES={raw!r} is not a byte count from 0 to 2**40; "
            f"using {DEFAULT_MEMO_BYTES}",
            RuntimeWarning,
            stacklevel=2,
        )
        return DEFAULT_MEMO_BYTES
    return value


MEMO = ResultMemo(memo_bytes_from_environment())


def default_cache_path() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "sentiment-udf" / "results.sqlite"


_LIVE_CACHES: weakref.WeakSet[ResultCache] = weakref.WeakSet()


class ResultCache:
    """Answers in a SQLite file, shared by threads and processes; pruned oldest-first."""

    def __init__(self, path: str | Path, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.path = Path(path).expanduser()
        self.max_entries = max_entries
        self.disabled = False
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self.hits = 0  # this process's answers found in the file
        self.misses = 0
        self.writes = 0  # answers this process added to the file
        self._unsaved = {"hits": 0, "misses": 0, "writes": 0}  # not yet added to the file's totals
        _LIVE_CACHES.add(self)

    # --- the two calls scoring makes: they never raise --------------------------------------

    def get_many(self, keys: list[bytes]) -> dict[bytes, bytes]:
        """The stored answers among `keys` (one SELECT per chunk; reads write nothing)."""
        found: dict[bytes, bytes] = {}
        if self.disabled or not keys:
            return found
        with self._lock:
            try:
                connection = self._open()
                for start in range(0, len(keys), LOOKUP_CHUNK):
                    chunk = keys[start : start + LOOKUP_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows = connection.execute(
                        f"SELECT key, probs FROM results WHERE key IN ({marks})", chunk
                    ).fetchall()
                    found.update((bytes(k), bytes(v)) for k, v in rows)
            except (sqlite3.Error, OSError, ValueError) as exc:
                self._fail(exc)
                return {}
            self._count(hits=len(found), misses=len(keys) - len(found))
            if found:
                self._save_counters_if_free(connection)
        return found

    def put_many(self, items: Mapping[bytes, bytes]) -> None:
        """Store new answers in one transaction; prune when over max_entries."""
        if self.disabled or not items:
            return
        with self._lock:
            try:
                connection = self._open()
                with connection:
                    before = connection.total_changes
                    connection.executemany(
                        "INSERT OR IGNORE INTO results (key, probs) VALUES (?, ?)",
                        list(items.items()),
                    )
                    self._count(writes=connection.total_changes - before)
                    self._save_counters(connection)
                self._prune_if_over(connection)
            except (sqlite3.Error, OSError, ValueError) as exc:
                self._fail(exc)

    def counters(self) -> dict[str, int]:
        """This process's hits, misses and writes on this cache."""
        return {"hits": self.hits, "misses": self.misses, "writes": self.writes}

    def _count(self, hits: int = 0, misses: int = 0, writes: int = 0) -> None:
        for name, n in (("hits", hits), ("misses", misses), ("writes", writes)):
            setattr(self, name, getattr(self, name) + n)
            self._unsaved[name] += n

    def _save_counters(self, connection: sqlite3.Connection) -> None:
        """Add this process's unsaved counts to the file's totals (inside a transaction)."""
        for name, n in self._unsaved.items():
            if n:
                connection.execute(
                    "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                    "SET value = CAST(value AS INTEGER) + excluded.value",
                    [f"total_{name}", n],
                )
        self._unsaved = dict.fromkeys(self._unsaved, 0)

    def _save_counters_if_free(self, connection: sqlite3.Connection) -> None:
        """Record the hits of a read at once when no other writer holds the file (a worker
        process may end without running atexit, as Spark's do); else at the next write."""
        try:
            connection.execute("PRAGMA busy_timeout = 0")
            with connection:
                self._save_counters(connection)
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            if not _busy(exc):  # a damaged page (malformed), say: not the query's failure
                self._fail(exc)
                return
            with contextlib.suppress(sqlite3.Error):  # busy: kept for the next write
                connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def flush_counters(self) -> None:
        """Write counts not yet in the file (a run that only read); never raises."""
        if self.disabled or not any(self._unsaved.values()):
            return
        with self._lock:
            try:
                connection = self._open()
                with connection:
                    self._save_counters(connection)
            except (sqlite3.Error, OSError, ValueError):
                pass

    # --- maintenance (the `sentiment-udf cache` command) -------------------------------------

    def stats(self) -> dict:
        if not self.path.exists():  # no cache yet: nothing stored, nothing counted
            return {
                "path": str(self.path), "entries": 0, "bytes": 0, "max_entries": self.max_entries,
                "schema_version": SCHEMA_VERSION, "hits": 0, "misses": 0, "writes": 0,
            }
        with self._lock, _maintenance_errors(self.path):
            connection = self._open(strict=True)
            entries = connection.execute("SELECT count(*) FROM results").fetchall()[0][0]
            meta = dict(connection.execute("SELECT name, value FROM meta").fetchall())
        files = [self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")]
        return {
            "path": str(self.path),
            "entries": entries,
            "bytes": sum(f.stat().st_size for f in files if f.exists()),
            "max_entries": self.max_entries,
            "schema_version": SCHEMA_VERSION,
            **{name: int(meta.get(f"total_{name}", 0)) for name in ("hits", "misses", "writes")},
        }

    def prune(self, max_entries: int | None = None) -> int:
        """Delete the oldest entries beyond `max_entries`; how many were deleted."""
        keep = self.max_entries if max_entries is None else max_entries
        if not self.path.exists():
            return 0
        with self._lock, _maintenance_errors(self.path):
            connection = self._open(strict=True)
            with connection:
                deleted = connection.execute(
                    "DELETE FROM results WHERE id <= (SELECT max(id) FROM results) - ?", [keep]
                ).rowcount
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted

    def clear(self) -> int:
        if not self.path.exists():
            return 0
        with self._lock, _maintenance_errors(self.path):
            connection = self._open(strict=True)
            with connection:
                deleted = connection.execute("DELETE FROM results").rowcount
            connection.execute("VACUUM")
        return deleted

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # --- inside ------------------------------------------------------------------------------

    def _open(self, strict: bool = False) -> sqlite3.Connection:
        if self._pid != os.getpid():  # a forked child: the parent's connection is not ours
            self._forget_parents_connection()
        if self._connection is not None:
            return self._connection
        if not strict:
            _refuse_network_filesystem(self.path)
        _refuse_link_or_special(self.path)
        for side in ("-wal", "-shm", "-journal"):  # SQLite makes these: never through a link
            if os.path.islink(f"{self.path}{side}"):
                raise ValueError(f"{self.path}{side} is a symbolic link; remove it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _check_or_create_schema(connection, self.path, create=not strict)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _prune_if_over(self, connection: sqlite3.Connection) -> None:
        low, high = connection.execute("SELECT min(id), max(id) FROM results").fetchall()[0]
        if low is not None and high - low + 1 > self.max_entries:
            with connection:
                connection.execute("DELETE FROM results WHERE id <= ?", [high - self.max_entries])

    def _fail(self, exc: BaseException) -> None:
        """Stop using the cache for the rest of this process's run, with one warning: a file
        locked past the busy timeout (another process stopped while writing, say) would stall
        every later batch as long again."""
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        locked = _busy(exc)
        self.disabled = True
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()
            self._connection = None
        if "warned" not in self._warned:
            self._warned.add("warned")
            reason = f"locked for over {BUSY_TIMEOUT_MS // 1000} s" if locked else message
            warnings.warn(
                f"sentiment-udf result cache {self.path}: {reason}; "
                "scoring without it for the rest of this run",
                ResultCacheWarning,
                stacklevel=3,
            )

    def _after_fork_in_child(self, held: bool) -> None:
        """The parent's lock and connection are not the child's. The parent's connection is
        kept, never closed here (closing it would release SQLite locks that are the parent's
        and touch state a parent thread may have left half changed); the child opens its own.
        `held`: the fork held the lock, so no parent thread was inside SQLite at that instant."""
        self._forget_parents_connection()
        self._lock = threading.Lock()
        if not held:  # a parent thread was stuck inside SQLite at the fork
            self.disabled = True

    def _forget_parents_connection(self) -> None:
        if self._connection is not None:
            _PARENTS_CONNECTIONS.append(self._connection)
        self._connection, self._pid = None, os.getpid()


def _busy(exc: BaseException) -> bool:
    """Another writer holds the file (waited out at the next write, never here)."""
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc) for word in ("locked", "busy")
    )


@contextlib.contextmanager
def _maintenance_errors(path: Path):
    """SQLite's errors in the `cache` command's words: one ValueError naming the file."""
    try:
        yield
    except sqlite3.Error as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "locked" in message:
            message = f"locked by another process for over {BUSY_TIMEOUT_MS // 1000} s; try again"
        raise ValueError(f"result cache {path}: {message}") from None
    except ValueError as exc:
        raise ValueError(f"result cache {path}: {exc}") from None


def _check_or_create_schema(
    connection: sqlite3.Connection, path: Path, create: bool = True
) -> None:
    """Check the file is a result cache of our schema, or (`create`) make it one, under one
    write lock (so that processes opening a new file at once never see it half made); then WAL
    mode."""
    # A check that may create takes the write lock (waiting out another process's check); a
    # read-only check (stats, prune's first look) only reads, and never waits for writers.
    connection.execute("BEGIN IMMEDIATE" if create else "BEGIN")
    try:
        _check_or_create_tables(connection, create)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    if create:
        connection.execute("PRAGMA journal_mode = WAL")  # ours for sure now: safe to switch


def _check_or_create_tables(connection: sqlite3.Connection, create: bool = True) -> None:
    tables = {
        r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if not tables and not create:
        raise ValueError("not a sentiment-udf result cache (an empty file or database)")
    if tables and "meta" not in tables:
        raise ValueError("not a sentiment-udf result cache (a database of something else)")
    if "meta" in tables:
        meta = dict(connection.execute("SELECT name, value FROM meta").fetchall())
        if meta.get("application") != APPLICATION:
            raise ValueError("not a sentiment-udf result cache (a database of something else)")
        version = int(meta.get("schema_version", "0"))
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"result cache schema version {version}, this sentiment-udf reads "
                f"{SCHEMA_VERSION} (made by {'a newer' if version > SCHEMA_VERSION else 'an older'}"
                " release); use another path or clear it"
            )
        return
    connection.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
    connection.execute(
        "CREATE TABLE results (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE, probs BLOB NOT NULL)"
    )
    connection.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [("application", APPLICATION), ("schema_version", str(SCHEMA_VERSION))],
    )


def _refuse_network_filesystem(path: Path) -> None:
    """A network filesystem's locks do not protect SQLite: such a path is refused."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    target = os.path.realpath(existing)
    best, kind = "", ""
    for line in mounts:
        fields = line.split()
        under = len(fields) >= 3 and (
            target == fields[1] or target.startswith(fields[1].rstrip("/") + "/")
        )
        if under and len(fields[1]) > len(best):
            best, kind = fields[1], fields[2]
    if kind in NETWORK_FILESYSTEMS:
        raise ValueError(f"{path} is on a network filesystem ({kind}); use a local path")


_CACHES: dict[tuple[str, int], ResultCache] = {}
_CACHES_LOCK = threading.Lock()
_PARENTS_CONNECTIONS: list[sqlite3.Connection] = []  # in a forked child: never used, never closed
# The memo and caches whose locks the fork in progress holds (True) or waited for in vain.
_HELD_ACROSS_FORK: dict[ResultMemo | ResultCache, bool] = {}


def _lock_owners() -> list[ResultMemo | ResultCache]:
    return [MEMO, *_LIVE_CACHES]


def _before_fork() -> None:
    """Hold the memo's and every cache's lock across a fork, so that no other thread is halfway
    through the memo or inside SQLite at that instant: a child that inherits SQLite's record of
    a lock a parent thread held sees the file as locked by itself and waits out the timeout."""
    for owner in _lock_owners():
        _HELD_ACROSS_FORK[owner] = owner._lock.acquire(timeout=FORK_WAIT_S)


def _after_fork_in_parent() -> None:
    for owner, held in reversed(_HELD_ACROSS_FORK.items()):
        if held:
            owner._lock.release()
    _HELD_ACROSS_FORK.clear()


def _after_fork_in_child() -> None:
    """Every lock this module owns is made anew in a forked child (the parent's other threads,
    which may have held them, do not exist there)."""
    global _CACHES_LOCK
    _CACHES_LOCK = threading.Lock()
    for owner in _lock_owners():
        owner._after_fork_in_child(_HELD_ACROSS_FORK.get(owner, False))
    _HELD_ACROSS_FORK.clear()


def _flush_all_counters() -> None:
    for cache in list(_LIVE_CACHES):
        cache.flush_counters()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
atexit.register(_flush_all_counters)


def _refuse_link_or_special(path: Path) -> None:
    """ValueError for a cache path that is a link (or lies in a folder that is one, as the
    default's sentiment-udf folder could be), or is not a plain file: SQLite would follow it."""
    for candidate in (path, path.parent):
        if os.path.islink(candidate):
            raise ValueError(f"result cache {candidate} is a symbolic link; a cache is never "
                             "written through one: remove it or choose another path")
    if path.exists() and not path.is_file():
        raise ValueError(f"result cache {path} is not a plain file (a folder, FIFO or device)")


def open_cache_files() -> list[Path]:
    """The files of every result cache this process opened (SQLite's journal, WAL and shared
    memory files with each): what an output must never replace."""
    with _CACHES_LOCK:
        paths = [Path(path) for path, _ in _CACHES]
    return [p.with_name(p.name + suffix) for p in paths for suffix in ("", "-journal", "-wal", "-shm")]


def open_cache(
    cache: bool | str | Path | None, max_entries: int = DEFAULT_MAX_ENTRIES
) -> ResultCache | None:
    """The persistent cache a user asked for: True (the default path), a path, False (none), or
    None (SENTIMENT_UDF_CACHE from the environment when set, else none). One per path."""
    if cache is None:
        cache = os.environ.get("SENTIMENT_UDF_CACHE") or False
    if cache is False:
        return None
    path = default_cache_path() if cache is True else Path(cache).expanduser()
    _refuse_link_or_special(path)
    key = (str(path.absolute()), max_entries)
    with _CACHES_LOCK:
        if key not in _CACHES:
            _CACHES[key] = ResultCache(path, max_entries)
        return _CACHES[key]
