"""Backup and restore of a whole city: the database and every media file in one tar archive.

The archive holds, in this order:

    database.pgdump | database.sqlite3   pg_dump --format=custom, or a SQLite online-backup copy
    media/<name> …                        every file of the default storage, byte for byte
    manifest.json                         written last: an archive without it is incomplete

The database is copied first and the media afterwards. Media files are written once under
fresh names and never changed, so every file the copied database refers to is already in the
storage when the walk starts; a file uploaded during the walk is a harmless extra.

The manifest's row counts, migrations and file references are read from exactly the data that
went into the archive: on PostgreSQL from the snapshot pg_dump is given (`--snapshot`), on
SQLite from the copy itself. A restore recounts the same tables and rehashes every media file
from the storage it wrote them to, so "restored" means "checked"."""

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.apps import apps
from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.core.files.utils import validate_file_name
from django.db import connections, transaction
from django.db.models import FileField
from django.utils import timezone

FORMAT = "gridcity-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MEDIA_PREFIX = "media/"
DB_MEMBERS = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}
ENGINE_LABELS = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}

# The tables whose row counts the manifest records and a restore checks, with their labels.
KEY_TABLES = [
    ("cases.Case", "案件"),
    ("cases.CaseEvent", "事件"),
    ("cases.Attachment", "附件"),
    ("evaluation.EvaluationPeriod", "考评期间"),
    ("evaluation.Fact", "考评事实快照"),
    ("evaluation.PeriodResult", "考评结果快照"),
    ("accounts.User", "用户"),
]
# A target holding a row in any of these is not empty: restoring would overwrite a city.
OCCUPIED_IF_ANY = [("cases.Case", "案件"), ("accounts.User", "用户")]

CHUNK = 1024 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024
MISSING_EXAMPLES = 20

Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is for the operator, in Chinese."""


@dataclass(frozen=True)
class MediaEntry:
    name: str
    size: int
    sha256: str


@dataclass
class BackupResult:
    path: Path
    manifest: dict
    archive_bytes: int
    seconds: float


@dataclass(frozen=True)
class Check:
    what: str
    expected: Any
    actual: Any

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass
class RestoreResult:
    manifest: dict
    checks: list[Check]
    media_written: int = 0
    media_identical: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass
class _DbFacts:
    counts: dict[str, int | None]
    migrations: list[list[str]]
    referenced: set[str]


# --- reading the database -------------------------------------------------------------------


def engine_of(using: str = "default") -> str:
    vendor = connections[using].vendor
    if vendor not in DB_MEMBERS:
        raise BackupError(f"不支持的数据库类型：{vendor}（只支持 PostgreSQL 和 SQLite）")
    return vendor


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _file_columns() -> list[tuple[str, str]]:
    """(table, column) of every FileField of every installed model."""
    out = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for f in model._meta.local_concrete_fields:
            if isinstance(f, FileField):
                out.append((model._meta.db_table, f.column))
    return out


def _read_facts(cursor, tables: set[str]) -> _DbFacts:
    """Counts, applied migrations and referenced file names, through any DB-API cursor."""
    if "django_migrations" not in tables:
        raise BackupError("数据库还没有迁移（没有 django_migrations 表），没有可备份的内容")
    counts = _count_tables(cursor, tables)
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
    migrations = [[app, name] for app, name in cursor.fetchall()]
    referenced: set[str] = set()
    for table, column in _file_columns():
        if table not in tables:
            continue
        cursor.execute(f"SELECT {_q(column)} FROM {_q(table)} WHERE {_q(column)} <> ''")
        while rows := cursor.fetchmany(10_000):
            referenced.update(r[0] for r in rows if r[0])
    return _DbFacts(counts, migrations, referenced)


def _pg_env_and_args(settings_dict: dict) -> tuple[dict, list[str]]:
    """libpq connection options for pg_dump/pg_restore. The password travels in PGPASSWORD,
    never on the command line, where any user of the machine could read it in `ps`."""
    env = dict(os.environ)
    env["PGAPPNAME"] = "gridcity-backup"
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = str(settings_dict["PASSWORD"])
    options = settings_dict.get("OPTIONS") or {}
    for key, var in (
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("sslcert", "PGSSLCERT"),
        ("sslkey", "PGSSLKEY"),
        ("passfile", "PGPASSFILE"),
    ):
        if options.get(key):
            env[var] = str(options[key])
    args = ["--no-password"]
    if settings_dict.get("HOST"):
        args += ["--host", str(settings_dict["HOST"])]
    if settings_dict.get("PORT"):
        args += ["--port", str(settings_dict["PORT"])]
    if settings_dict.get("USER"):
        args += ["--username", str(settings_dict["USER"])]
    args += ["--dbname", str(settings_dict["NAME"])]
    return env, args


def _run_pg_tool(cmd: list[str], env: dict) -> None:
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise BackupError(
            f"找不到 {cmd[0]}：请安装 PostgreSQL 客户端（版本不低于数据库服务器）"
        ) from exc
    if proc.returncode != 0:
        detail = proc.stderr.strip() or proc.stdout.strip()
        raise BackupError(f"{cmd[0]} 失败（退出码 {proc.returncode}）：{detail}")


def _dump_postgresql(using: str, dest: Path) -> _DbFacts:
    conn = connections[using]
    if conn.in_atomic_block:
        raise BackupError("备份不能在数据库事务中运行")
    env, args = _pg_env_and_args(conn.settings_dict)
    # One REPEATABLE READ transaction exports its snapshot; pg_dump dumps exactly that
    # snapshot, and the counts for the manifest are read in it too, so they describe the dump
    # even while the city keeps working.
    with transaction.atomic(using=using), conn.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        facts = _read_facts(cursor, set(conn.introspection.table_names(cursor)))
        _run_pg_tool(
            ["pg_dump", "--format=custom", f"--file={dest}", f"--snapshot={snapshot}", *args],
            env,
        )
    return facts


def _dump_sqlite(using: str, dest: Path) -> _DbFacts:
    conn = connections[using]
    if conn.is_in_memory_db():
        # An in-memory database (the test database) exists only inside this connection.
        conn.ensure_connection()
        source, close_source = conn.connection, False
    else:
        name = Path(conn.settings_dict["NAME"])
        if not name.is_file():
            raise BackupError(f"SQLite 数据库文件不存在：{name}")
        source, close_source = sqlite3.connect(name, timeout=30), True
    target = sqlite3.connect(dest)
    try:
        # The online-backup API copies a consistent state while the app goes on writing.
        source.backup(target)
        tables = {
            r[0] for r in target.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        facts = _read_facts(target.cursor(), tables)
    finally:
        target.close()
        if close_source:
            source.close()
    return facts


# --- writing the archive ---------------------------------------------------------------------


def iter_media_names(storage: Storage, top: str = "") -> Iterator[str]:
    """Every file name in a storage, walking its listdir() (local disk or an object store)."""
    try:
        dirs, files = storage.listdir(top)
    except FileNotFoundError:  # a local media directory nothing was ever uploaded to
        return
    for f in sorted(files):
        yield f"{top}/{f}" if top else f
    for d in sorted(dirs):
        yield from iter_media_names(storage, f"{top}/{d}" if top else d)


class _Hashing:
    """Reads through a file object, hashing and counting what passes."""

    def __init__(self, f: IO[bytes]):
        self.f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data


def _add_stream(tar: tarfile.TarFile, arcname: str, f: IO[bytes], size: int, mtime: float) -> str:
    info = tarfile.TarInfo(arcname)
    info.size, info.mtime, info.mode = size, int(mtime), 0o644
    reader = _Hashing(f)
    tar.addfile(info, reader)
    return reader.sha.hexdigest()


def add_media(
    tar: tarfile.TarFile, storage: Storage, *, mtime: float, progress: Progress | None = None
) -> list[MediaEntry]:
    """Copy every file of the storage into the tar, one at a time. Each is spooled (in memory
    up to 8 MB, on disk beyond) while it is hashed, so the size in the tar header is the size
    actually read, and an object store is asked for each object once."""
    entries = []
    for name in iter_media_names(storage):
        with (
            tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool,
            storage.open(name, "rb") as src,
        ):
            reader = _Hashing(src)
            shutil.copyfileobj(reader, spool, CHUNK)
            spool.seek(0)
            _add_stream(tar, MEDIA_PREFIX + name, spool, reader.size, mtime)
        entries.append(MediaEntry(name, reader.size, reader.sha.hexdigest()))
        if progress and len(entries) % 1000 == 0:
            progress(f"  已复制媒体文件 {len(entries)} 个…")
    return entries


def archive_name(now: datetime | None = None) -> str:
    return f"gridcity-backup-{timezone.localtime(now or timezone.now()):%Y%m%d-%H%M%S}.tar"


def _gridcity_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gridcity")
    except PackageNotFoundError:
        return ""


def create_backup(
    path: Path,
    *,
    using: str = "default",
    storage: Storage | None = None,
    progress: Progress | None = None,
) -> BackupResult:
    """Write one archive with the database, every media file and the manifest. The archive
    appears under its name only when complete (it is written as NAME.partial first)."""
    started = time.monotonic()
    storage = storage or default_storage
    path = Path(path)
    engine = engine_of(using)
    if path.exists():
        raise BackupError(f"文件已存在：{path}（不会覆盖已有的备份）")
    if not path.parent.is_dir():
        raise BackupError(f"目录不存在：{path.parent}")
    if isinstance(storage, FileSystemStorage):
        media_root = Path(storage.location).resolve()
        if path.resolve().is_relative_to(media_root):
            raise BackupError(f"备份不能写在媒体目录 {media_root} 里")
    created = timezone.now()
    partial = path.with_name(path.name + ".partial")
    try:
        with tempfile.TemporaryDirectory(prefix=".gridcity-backup-", dir=path.parent) as tmp:
            dump = Path(tmp) / DB_MEMBERS[engine]
            if progress:
                progress(f"导出数据库（{ENGINE_LABELS[engine]}）…")
            if engine == "postgresql":
                facts = _dump_postgresql(using, dump)
            else:
                facts = _dump_sqlite(using, dump)
            db_size = dump.stat().st_size
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                with dump.open("rb") as f:
                    db_sha = _add_stream(tar, dump.name, f, db_size, created.timestamp())
                dump.unlink()
                if progress:
                    progress(f"复制媒体文件（{storage.__class__.__name__}）…")
                media = add_media(tar, storage, mtime=created.timestamp(), progress=progress)
                names = {m.name for m in media}
                missing = sorted(facts.referenced - names)
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "created_at": timezone.localtime(created).isoformat(),
                    "gridcity_version": _gridcity_version(),
                    "database": {
                        "engine": engine,
                        "member": dump.name,
                        "size": db_size,
                        "sha256": db_sha,
                    },
                    "migrations": facts.migrations,
                    "counts": facts.counts,
                    "media": [{"name": m.name, "size": m.size, "sha256": m.sha256} for m in media],
                    "media_missing": {
                        "count": len(missing),
                        "examples": missing[:MISSING_EXAMPLES],
                    },
                }
                body = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
                _add_stream(tar, MANIFEST, io.BytesIO(body), len(body), created.timestamp())
            with partial.open("rb+") as f:
                os.fsync(f.fileno())
            os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"备份失败，没有写出归档：{exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupResult(path, manifest, path.stat().st_size, time.monotonic() - started)


# --- reading an archive ---------------------------------------------------------------------


@dataclass
class Archive:
    tar: tarfile.TarFile
    manifest: dict
    files: dict[str, tarfile.TarInfo]  # regular files by name: one pass over a big archive

    def open(self, name: str) -> IO[bytes]:
        return self.tar.extractfile(self.files[name])

    def close(self) -> None:
        self.tar.close()


def open_archive(path: Path) -> Archive:
    """The archive and its manifest, after checking that it is one of ours and whole."""
    path = Path(path)
    if not path.exists():
        raise BackupError(f"备份文件不存在：{path}")
    if not path.is_file():
        raise BackupError(f"不是文件：{path}")
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115 (kept open in the Archive returned)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"不是有效的 tar 归档：{path}（{exc}）") from exc
    try:
        try:
            files = {m.name: m for m in tar.getmembers() if m.isfile()}
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise BackupError(f"tar 归档已损坏：{path}（{exc}）") from exc
        if MANIFEST not in files:
            raise BackupError(f"归档中没有 {MANIFEST}：{path} 不是 GridCity 备份，或备份没有写完")
        try:
            manifest = json.loads(tar.extractfile(files[MANIFEST]).read().decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise BackupError(f"{MANIFEST} 无法解析：{exc}") from exc
        _check_manifest(manifest)
        db_member = manifest["database"]["member"]
        if db_member not in files:
            raise BackupError(f"归档中缺少数据库文件 {db_member}")
        absent = [m["name"] for m in manifest["media"] if MEDIA_PREFIX + m["name"] not in files]
        if absent:
            raise BackupError(f"归档中缺少 {len(absent)} 个媒体文件，例如 {', '.join(absent[:3])}")
    except BaseException:
        tar.close()
        raise
    return Archive(tar, manifest, files)


def read_manifest(path: Path) -> dict:
    archive = open_archive(path)
    archive.close()
    return archive.manifest


def _check_manifest(manifest: Any) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{MANIFEST} 不是 GridCity 备份的清单")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BackupError(
            f"备份格式版本 {version} 不是本程序能读的（最高 {FORMAT_VERSION}），请用更新的 GridCity 恢复"
        )
    try:
        db = manifest["database"]
        if db["engine"] not in DB_MEMBERS or db["member"] != DB_MEMBERS[db["engine"]]:
            raise BackupError(f"{MANIFEST} 中的数据库类型无法识别：{db['engine']}")
        int(db["size"]), str(db["sha256"])
        for m in manifest["media"]:
            validate_file_name(m["name"], allow_relative_path=True)
            int(m["size"]), str(m["sha256"])
        dict(manifest["counts"]), list(manifest["migrations"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"{MANIFEST} 不完整或有误：{exc!r}") from exc
    except SuspiciousFileOperation as exc:
        raise BackupError(f"{MANIFEST} 中有不安全的文件名：{exc}") from exc


def _sha256_of(f: IO[bytes]) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    while chunk := f.read(CHUNK):
        sha.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), size


def check_archive(archive: Archive, progress: Progress | None = None) -> None:
    """Rehash every member against the manifest before anything is written."""
    manifest = archive.manifest
    wanted = [(manifest["database"]["member"], manifest["database"])]
    wanted += [(MEDIA_PREFIX + m["name"], m) for m in manifest["media"]]
    if progress:
        progress(f"校验归档：{len(wanted)} 个文件…")
    for name, expected in wanted:
        sha, size = _sha256_of(archive.open(name))
        if (sha, size) != (expected["sha256"], expected["size"]):
            raise BackupError(f"归档已损坏：{name} 与清单不符（大小或 SHA-256 不同）")


# --- restoring -------------------------------------------------------------------------------


def _count_tables(cursor, tables: set[str]) -> dict[str, int | None]:
    """Rows of each key table (None for a table the database does not have)."""
    counts: dict[str, int | None] = {}
    for label, _ in KEY_TABLES:
        table = apps.get_model(label)._meta.db_table
        if table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {_q(table)}")
            counts[label] = int(cursor.fetchone()[0])
        else:
            counts[label] = None
    return counts


def count_key_tables(using: str = "default") -> dict[str, int | None]:
    conn = connections[using]
    with conn.cursor() as cursor:
        return _count_tables(cursor, set(conn.introspection.table_names(cursor)))


def occupied(using: str = "default") -> dict[str, int]:
    """What makes the target not empty: the number of cases and of users, where nonzero. A
    database with no tables, or one that was only migrated, holds neither and is empty."""
    conn = connections[using]
    if conn.vendor == "sqlite" and not conn.is_in_memory_db():
        if not Path(conn.settings_dict["NAME"]).exists():
            return {}
    with conn.cursor() as cursor:
        tables = set(conn.introspection.table_names(cursor))
        found = {}
        for label, title in OCCUPIED_IF_ANY:
            table = apps.get_model(label)._meta.db_table
            if table in tables:
                cursor.execute(f"SELECT COUNT(*) FROM {_q(table)}")
                n = int(cursor.fetchone()[0])
                if n:
                    found[title] = n
    return found


def _media_conflicts(manifest: dict, storage: Storage) -> tuple[list[str], set[str]]:
    """Names present in the storage with other content, and names present with the same."""
    conflicts, identical = [], set()
    for m in manifest["media"]:
        if not storage.exists(m["name"]):
            continue
        with storage.open(m["name"], "rb") as f:
            sha, _ = _sha256_of(f)
        if sha == m["sha256"]:
            identical.add(m["name"])
        else:
            conflicts.append(m["name"])
    return conflicts, identical


def _restore_postgresql(using: str, archive: Archive) -> None:
    conn = connections[using]
    env, args = _pg_env_and_args(conn.settings_dict)
    # pg_restore --clean drops a partition's inherited primary key, which PostgreSQL refuses:
    # the partitioned tables (sensor readings by month, frozen evaluation months) are dropped
    # whole first, their partitions with them, in the same transaction as the restore.
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT format('DROP TABLE IF EXISTS %I.%I CASCADE;', n.nspname, c.relname) "
            "FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        )
        drops = [row[0] for row in cursor.fetchall()]
    conn.close()
    with tempfile.TemporaryDirectory(prefix="gridcity-restore-") as tmp:
        dump = Path(tmp) / DB_MEMBERS["postgresql"]
        with dump.open("wb") as out:
            shutil.copyfileobj(archive.open(archive.manifest["database"]["member"]), out, CHUNK)
        script = Path(tmp) / "restore.sql"
        script.write_text("\n".join(drops) + "\n", encoding="utf-8")
        # pg_restore writes the restore as SQL (no connection); psql runs the drops and it as
        # one transaction, so a failure leaves the target as it was.
        restore_sql = Path(tmp) / "dump.sql"
        _run_pg_tool(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--clean",
                "--if-exists",
                f"--file={restore_sql}",
                str(dump),
            ],
            env,
        )
        _run_pg_tool(
            [
                "psql",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--file={script}",
                f"--file={restore_sql}",
                *args,
            ],
            env,
        )


def _restore_sqlite(using: str, archive: Archive) -> None:
    conn = connections[using]
    target = Path(conn.settings_dict["NAME"])
    conn.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(target.name + ".restoring")
    try:
        with incoming.open("wb") as out:
            shutil.copyfileobj(archive.open(archive.manifest["database"]["member"]), out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
        # The old database's write-ahead log would be replayed into the new file: remove it.
        for suffix in ("-wal", "-shm", "-journal"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        os.replace(incoming, target)
    finally:
        incoming.unlink(missing_ok=True)


def restore_media(archive: Archive, storage: Storage, skip: set[str]) -> int:
    written = 0
    for m in archive.manifest["media"]:
        name = m["name"]
        if name in skip:
            continue
        if storage.exists(name):  # a different file, and --force was given
            storage.delete(name)
        src = archive.open(MEDIA_PREFIX + name)
        saved = storage.save(name, File(src, name=PurePosixPath(name).name))
        if saved != name:
            raise BackupError(f"媒体文件 {name} 被存储改名为 {saved}，恢复中止")
        written += 1
    return written


def verify(
    manifest: dict, *, using: str = "default", storage: Storage | None = None
) -> list[Check]:
    """Recount the key tables and rehash every media file from the storage."""
    storage = storage or default_storage
    labels = dict(KEY_TABLES)
    actual = count_key_tables(using)
    checks = [
        Check(labels.get(label, label), expected, actual.get(label))
        for label, expected in manifest["counts"].items()
    ]
    from django.db.migrations.recorder import MigrationRecorder

    applied = set(MigrationRecorder(connections[using]).applied_migrations())
    recorded = {(app, name) for app, name in manifest["migrations"]}
    checks.append(Check("已执行的迁移", len(recorded), len(applied)))
    if applied != recorded:
        checks.append(Check("与备份不同的迁移", 0, len(applied ^ recorded)))
    bad = []
    for m in manifest["media"]:
        try:
            with storage.open(m["name"], "rb") as f:
                sha, size = _sha256_of(f)
        except FileNotFoundError:
            sha, size = None, None
        if (sha, size) != (m["sha256"], m["size"]):
            bad.append(m["name"])
    checks.append(
        Check(
            "媒体文件 SHA-256 一致",
            len(manifest["media"]),
            len(manifest["media"]) - len(bad),
        )
    )
    if bad:
        checks.append(Check("不一致的媒体文件", [], bad[:MISSING_EXAMPLES]))
    return checks


def _migration_notes(manifest: dict, using: str) -> list[str]:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[using])
    notes = []
    unknown = [
        f"{app}.{name}"
        for app, name in manifest["migrations"]
        if (app, name) not in executor.loader.disk_migrations
        and app in {c.label for c in apps.get_app_configs()}
    ]
    if unknown:
        notes.append(
            f"备份来自更新的 GridCity 版本：本程序不认识 {len(unknown)} 个迁移"
            f"（如 {unknown[0]}），请用与备份相同或更新的版本运行"
        )
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        notes.append(f"备份来自较早的版本：还有 {len(plan)} 个迁移未执行，请运行 gridcity migrate")
    return notes


def restore_backup(
    path: Path,
    *,
    force: bool = False,
    using: str = "default",
    storage: Storage | None = None,
    progress: Progress | None = None,
) -> RestoreResult:
    """Restore an archive into the configured database and storage, then verify it. Every
    check on the archive and the target is made before anything is written."""
    started = time.monotonic()
    storage = storage or default_storage
    engine = engine_of(using)
    archive = open_archive(path)
    manifest = archive.manifest
    try:
        source = manifest["database"]["engine"]
        if source != engine:
            raise BackupError(
                f"备份来自 {ENGINE_LABELS[source]} 数据库，目标是 {ENGINE_LABELS[engine]}："
                "不能跨数据库类型恢复。在两种数据库之间搬迁数据请用 "
                "gridcity dumpdata / loaddata。"
            )
        found = occupied(using)
        if found and not force:
            held = "，".join(f"{k} {v} 个" for k, v in found.items())
            raise BackupError(
                f"目标数据库不是空的（有{held}），恢复会覆盖它，已拒绝。"
                "空数据库指没有任何案件和用户（没有表、或只执行过 migrate）；"
                "确认要覆盖请加 --force。"
            )
        conflicts, identical = _media_conflicts(manifest, storage)
        if conflicts and not force:
            raise BackupError(
                f"媒体存储中已有 {len(conflicts)} 个同名但内容不同的文件（如 {conflicts[0]}），"
                "不会覆盖；确认要覆盖请加 --force。"
            )
        check_archive(archive, progress)
        if connections[using].in_atomic_block:
            raise BackupError("恢复不能在数据库事务中运行")
        if engine == "sqlite" and connections[using].is_in_memory_db():
            raise BackupError("目标是内存数据库，无法恢复到文件")
        if progress:
            progress(f"恢复数据库（{ENGINE_LABELS[engine]}）…")
        try:
            if engine == "postgresql":
                _restore_postgresql(using, archive)
            else:
                _restore_sqlite(using, archive)
        except OSError as exc:
            raise BackupError(f"数据库恢复失败，目标数据库未改变：{exc}") from exc
        if progress:
            progress(f"恢复媒体文件 {len(manifest['media'])} 个…")
        try:
            written = restore_media(archive, storage, identical)
        except (OSError, BackupError) as exc:
            raise BackupError(
                f"媒体文件恢复中断（数据库已经恢复）：{exc}。"
                "排除问题后加 --force 重新恢复即可，已写好的相同文件会跳过。"
            ) from exc
    finally:
        archive.close()
    if progress:
        progress("校验…")
    result = RestoreResult(
        manifest,
        verify(manifest, using=using, storage=storage),
        media_written=written,
        media_identical=len(identical),
        notes=_migration_notes(manifest, using),
    )
    result.seconds = time.monotonic() - started
    return result


# --- summaries -------------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def counts_line(manifest: dict) -> str:
    c = manifest["counts"]
    media = manifest["media"]
    parts = [f"{title} {c[label]}" for label, title in KEY_TABLES if c.get(label) is not None]
    parts.append(f"媒体文件 {len(media)}（{_mb(sum(m['size'] for m in media))}）")
    return "，".join(parts)
