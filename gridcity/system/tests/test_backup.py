"""The backup and restore drill: a small city built through the real actions (September's cases
with their report-back photos, a grid manager's report with a GPS photo, a frozen evaluation
month) is backed up, restored into another, empty database by `gridcity restore` in a separate
process, and found there case by case, event by event, photo by photo. Then the refusals: a
target that is not empty, an archive from the other engine, and archives that are missing,
not tars, incomplete or damaged — none of which may write anything."""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection

from gridcity.system import backup

ROOT = Path(__file__).resolve().parents[3]
OTHER_ENGINE = {"sqlite": "postgresql", "postgresql": "sqlite"}


def city_snapshot() -> dict:
    """What must survive a restore, as plain JSON: every case with its events and the bytes of
    its photos (read through the storage), every frozen period with its snapshot, the users.
    Run both here and, in the restored city, by a separate process."""
    from gridcity.accounts.models import User
    from gridcity.cases.models import Case
    from gridcity.evaluation.models import EvaluationPeriod

    def sha(name: str) -> str | None:
        if not name:
            return None
        with default_storage.open(name, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    cases = {}
    for c in Case.objects.order_by("number").prefetch_related("events", "attachments"):
        cases[c.number] = {
            "status": c.status,
            "department": c.department.name if c.department_id else None,
            "events": [
                [e.action, e.from_status, e.to_status, e.at.isoformat(), e.actor_id, e.note]
                for e in c.events.all()
            ],
            "photos": [
                [a.kind, a.file.name, a.sha256, sha(a.file.name), sha(a.thumbnail.name)]
                for a in c.attachments.all()
            ],
        }
    periods = {
        p.key: {
            "status": p.status,
            "frozen_at": p.frozen_at.isoformat(),
            "facts": sorted(
                [f.measure, f.case_number, f.at.isoformat(), f.u_dept, f.u_actor, f.f1, f.f2]
                for f in p.facts.all()
            ),
            "results": {r.unit_type: r.data for r in p.results.all()},
        }
        for p in EvaluationPeriod.objects.prefetch_related("facts", "results")
    }
    users = list(User.objects.order_by("username").values_list("username", "role", "password"))
    return {"cases": cases, "periods": periods, "users": users}


def build_city_with_history() -> None:
    from gridcity.cases.actions import ReportInput, do_report_case
    from gridcity.cases.models import Channel
    from gridcity.evaluation.actions import do_freeze_period
    from gridcity.evaluation.tests.scenario import at, build_september
    from gridcity.taxonomy.actions import resolve_category
    from gridcity.testing import build_city, tiny_jpeg

    city = build_city()
    build_september(city)
    do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    do_report_case(
        ReportInput(
            category=resolve_category("06042"),
            channel=Channel.INSPECTOR,
            lon=120.1700,
            lat=30.2450,
            description="垃圾桶满溢，散落地面",
            photos=[("bin.jpg", tiny_jpeg((90, 90, 200), gps=(30.2450, 120.1700)))],
        ),
        acting_user=city.people["inspector"],
        now=at(10, 20, 9),
    )


def gridcity(args: list[str], *, database_url: str, data_dir: Path) -> subprocess.CompletedProcess:
    """Run the `gridcity` command (or Python code, args[0] == "-c") against another city."""
    env = dict(os.environ)
    env.update(
        GRIDCITY_DATABASE_URL=database_url,
        GRIDCITY_DATA_DIR=str(data_dir),
        GRIDCITY_MEDIA_STORAGE="local",
        DJANGO_SETTINGS_MODULE="gridcity.settings",
    )
    cmd = [sys.executable, *args] if args[0] == "-c" else [sys.executable, "-m", "gridcity.cli"]
    if args[0] != "-c":
        cmd += args
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)


SNAPSHOT_SCRIPT = (
    "import django, json; django.setup(); "
    "from gridcity.system.tests.test_backup import city_snapshot; "
    "print(json.dumps(city_snapshot()))"
)


def drill(tmp_path: Path, database_url: str, *, migrate_first: bool) -> None:
    build_city_with_history()
    expected = city_snapshot()
    assert len(expected["cases"]) == 8 and expected["periods"]["2025-09"]["facts"]
    assert sum(len(c["photos"]) for c in expected["cases"].values()) >= 8

    archive = tmp_path / "city.tar"
    out = io.StringIO()
    started = time.perf_counter()
    call_command("backup", str(archive), stdout=out)
    backup_s = time.perf_counter() - started
    assert "已备份：案件 8，事件 " in out.getvalue() and str(archive) in out.getvalue()
    manifest = backup.read_manifest(archive)
    assert manifest["database"]["engine"] == connection.vendor
    assert manifest["media_missing"]["count"] == 0
    # The archive agrees with the city it was taken from.
    assert all(c.ok for c in backup.verify(manifest)), backup.verify(manifest)

    target = tmp_path / "target"
    target.mkdir()
    run = {"database_url": database_url, "data_dir": target}
    if migrate_first:
        migrated = gridcity(["migrate", "--noinput", "-v0"], **run)
        assert migrated.returncode == 0, migrated.stderr
    started = time.perf_counter()
    restored = gridcity(["restore", str(archive)], **run)
    restore_s = time.perf_counter() - started
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "✗" not in restored.stdout and "已恢复并校验：案件 8" in restored.stdout
    assert (target / "media").is_dir()

    seen = gridcity(["-c", SNAPSHOT_SCRIPT], **run)
    assert seen.returncode == 0, seen.stderr
    assert json.loads(seen.stdout) == json.loads(json.dumps(expected))

    # A backup of the restored city (by the command line, from its database file or server)
    # holds the same rows and the same bytes as the first.
    (target / "again").mkdir()
    second = gridcity(["backup", "--dir", str(target / "again")], **run)
    assert second.returncode == 0, second.stderr
    (path,) = (target / "again").glob("gridcity-backup-*.tar")
    again_manifest = backup.read_manifest(path)
    for key in ("counts", "migrations", "media"):
        assert again_manifest[key] == manifest[key], key

    # The restored city now holds cases and users: a second restore is refused, exit status 1.
    again = gridcity(["restore", str(archive)], **run)
    assert again.returncode == 1
    assert "目标数据库不是空的（有案件 8 个，用户 " in again.stderr and "--force" in again.stderr

    # A photo damaged in the source after the backup, or a new case, shows in verify().
    photo = next(m["name"] for m in manifest["media"] if m["name"].startswith("cases/"))
    default_storage.delete(photo)
    default_storage.save(photo, ContentFile(b"not the photo"))
    failed = [c.what for c in backup.verify(manifest) if not c.ok]
    assert failed == ["媒体文件 SHA-256 一致", "不一致的媒体文件"]

    print(
        f"\n[{connection.vendor}] backup {backup_s:.2f} s, restore {restore_s:.2f} s "
        f"(subprocess incl. start-up), archive {archive.stat().st_size / 1024:.0f} KiB, "
        f"{len(manifest['media'])} media files"
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_restores_a_city_into_an_empty_sqlite_file(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite drill runs when the tests run on SQLite")
    # No migrate first: a file that does not exist yet is the emptiest target there is.
    drill(tmp_path, f"sqlite:///{tmp_path / 'target' / 'restored.sqlite3'}", migrate_first=False)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_restores_a_city_into_an_empty_postgresql_database(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (GRIDCITY_DATABASE_URL=postgres://…)")
    import psycopg

    s = connection.settings_dict
    name = f"gridcity_restore_{uuid.uuid4().hex[:12]}"
    auth = quote(s["USER"] or "postgres") + (f":{quote(s['PASSWORD'])}" if s["PASSWORD"] else "")
    server = f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        # A freshly migrated database (categories and indicators, no case, no user) is empty.
        drill(tmp_path, f"{server}/{name}", migrate_first=True)
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- refusals: each before anything is written -------------------------------------------------


def make_archive(path: Path, *, engine: str | None = None, media: dict | None = None, **changes):
    """A small hand-made archive in our format: a database member that is never reached and
    the given media files. `changes` override manifest keys; `tamper` stores other bytes for
    a media file than the manifest says."""
    engine = engine or connection.vendor
    media = media or {}
    tamper = changes.pop("tamper", {})
    db_bytes = b"never restored"
    manifest = {
        "format": backup.FORMAT,
        "format_version": backup.FORMAT_VERSION,
        "created_at": "2025-12-01T03:00:00+08:00",
        "database": {
            "engine": engine,
            "member": backup.DB_MEMBERS[engine],
            "size": len(db_bytes),
            "sha256": hashlib.sha256(db_bytes).hexdigest(),
        },
        "migrations": [],
        "counts": {"cases.Case": 0},
        "media": [
            {"name": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
            for n, b in media.items()
        ],
        "media_missing": {"count": 0, "examples": []},
    }
    manifest.update(changes)
    with tarfile.open(path, "w") as tar:

        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add(backup.DB_MEMBERS[engine], db_bytes)
        for n, b in media.items():
            add(backup.MEDIA_PREFIX + n, tamper.get(n, b))
        add(backup.MANIFEST, json.dumps(manifest).encode())
    return path


def restore(path) -> str:
    out = io.StringIO()
    call_command("restore", str(path), stdout=out)
    return out.getvalue()


def test_it_refuses_a_target_that_holds_a_user(db, tmp_path):
    from gridcity.accounts.models import Role
    from gridcity.testing import make_person

    make_person("dispatcher", Role.DISPATCHER)
    archive = make_archive(tmp_path / "a.tar", media={"cases/2025/09/a.jpg": b"photo"})
    with pytest.raises(CommandError, match=r"目标数据库不是空的（有用户 1 个）.*--force"):
        restore(archive)
    assert not default_storage.exists("cases/2025/09/a.jpg")


def test_it_refuses_an_archive_from_the_other_engine(db, tmp_path):
    archive = make_archive(tmp_path / "a.tar", engine=OTHER_ENGINE[connection.vendor])
    with pytest.raises(CommandError, match=r"不能跨数据库类型恢复.*dumpdata"):
        restore(archive)


def test_it_refuses_to_overwrite_a_different_media_file(db, tmp_path):
    default_storage.save("cases/2025/09/a.jpg", ContentFile(b"the city's own photo"))
    archive = make_archive(tmp_path / "a.tar", media={"cases/2025/09/a.jpg": b"photo"})
    with pytest.raises(CommandError, match="1 个同名但内容不同的文件（如 cases/2025/09/a.jpg）"):
        restore(archive)
    with default_storage.open("cases/2025/09/a.jpg") as f:
        assert f.read() == b"the city's own photo"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "备份文件不存在"),
        (lambda p: _write(p, b"\xff\xd8 a JPEG, not a tar" * 50), "不是有效的 tar 归档"),
        (lambda p: _write(p, b""), "不是有效的 tar 归档"),
        (lambda p: _tar(p, {"database.sqlite3": b"x"}), "归档中没有 manifest.json"),
        (lambda p: _tar(p, {"manifest.json": b"{not json"}), "manifest.json 无法解析"),
        (lambda p: _tar(p, {"manifest.json": b'{"format": "other"}'}), "不是 GridCity 备份的清单"),
        (lambda p: make_archive(p, format_version=99), "备份格式版本 99"),
        (
            lambda p: make_archive(p, media={"../../etc/passwd": b"x"}),
            "不安全的文件名",
        ),
        (
            lambda p: make_archive(p, media={"a.jpg": b"photo"}, tamper={"a.jpg": b"ph0to"}),
            "归档已损坏：media/a.jpg 与清单不符",
        ),
    ],
    ids=[
        "missing",
        "not-a-tar",
        "empty-file",
        "no-manifest",
        "bad-json",
        "not-ours",
        "newer",
        "path-traversal",
        "damaged-photo",
    ],
)
def test_it_refuses_bad_archives_and_writes_nothing(db, tmp_path, make, message):
    archive = make(tmp_path / "bad.tar")
    with pytest.raises(CommandError, match=message):
        restore(archive)
    assert list(backup.iter_media_names(default_storage)) == []
    assert backup.count_key_tables()["cases.Case"] == 0


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_backup_refuses_to_overwrite_an_archive_or_to_guess_a_path(db, tmp_path):
    existing = tmp_path / "old.tar"
    existing.write_bytes(b"last night's backup")
    with pytest.raises(CommandError, match="文件已存在"):
        call_command("backup", str(existing))
    assert existing.read_bytes() == b"last night's backup"
    with pytest.raises(CommandError, match="二者选一"):
        call_command("backup")
    with pytest.raises(CommandError, match="目录不存在"):
        call_command("backup", "--dir", str(tmp_path / "nowhere"))


# --- media in an object store -------------------------------------------------------------------


def test_it_walks_an_object_store_and_puts_its_files_back(tmp_path):
    moto = pytest.importorskip("moto")
    import boto3
    from storages.backends.s3 import S3Storage

    files = {
        "cases/2025/09/a.jpg": b"\xff\xd8photo a",
        "cases/2025/10/b.jpg": b"\xff\xd8photo b" * 1000,
        "thumbs/2025/09/a.jpg": b"\xff\xd8thumb",
        "readme.txt": "说明".encode(),
    }
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")

        def bucket(name):
            s3.create_bucket(Bucket=name)
            return S3Storage(
                bucket_name=name,
                region_name="us-east-1",
                access_key="testing",
                secret_key="testing",
                default_acl=None,
                file_overwrite=False,
            )

        source, target = bucket("city"), bucket("restored")
        for name, data in files.items():
            source.save(name, ContentFile(data))
        assert list(backup.iter_media_names(source)) == [
            "readme.txt",
            "cases/2025/09/a.jpg",
            "cases/2025/10/b.jpg",
            "thumbs/2025/09/a.jpg",
        ]
        with tarfile.open(tmp_path / "media.tar", "w") as tar:
            entries = backup.add_media(tar, source, mtime=0)
        assert {e.name: e.sha256 for e in entries} == {
            n: hashlib.sha256(d).hexdigest() for n, d in files.items()
        }
        manifest = {"media": [e.__dict__ for e in entries]}
        with tarfile.open(tmp_path / "media.tar") as tar:
            archive = backup.Archive(tar, manifest, {m.name: m for m in tar.getmembers()})
            assert backup.restore_media(archive, target, skip=set()) == len(files)
        for name, data in files.items():
            with target.open(name, "rb") as f:
                assert f.read() == data
