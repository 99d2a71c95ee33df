from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gridcity.system import backup


class Command(BaseCommand):
    help = (
        "备份：把数据库（PostgreSQL 用 pg_dump，SQLite 用在线备份）和全部媒体文件（照片等）"
        "连同清单 manifest.json 写入一个 tar 归档。运行中的系统可以直接备份。"
        "例如：gridcity backup /backups/gridcity.tar，或 gridcity backup --dir /backups"
    )

    def add_arguments(self, parser):
        parser.add_argument("output", nargs="?", help="归档文件路径（.tar），不会覆盖已有文件")
        parser.add_argument(
            "--dir",
            help="写到这个已有目录，文件名按时间生成，如 gridcity-backup-20251201-030000.tar",
        )

    def handle(self, *args, **o):
        self.verbosity = o["verbosity"]
        if bool(o["output"]) == bool(o["dir"]):
            raise CommandError("请给出归档文件路径，或用 --dir 指定目录（二者选一）")
        if o["dir"]:
            folder = Path(o["dir"])
            if not folder.is_dir():
                raise CommandError(f"目录不存在：{folder}")
            path = folder / backup.archive_name()
        else:
            path = Path(o["output"])
        try:
            r = backup.create_backup(path, progress=self._progress)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        missing = r.manifest["media_missing"]
        if missing["count"]:
            self.stderr.write(
                f"警告：数据库引用的 {missing['count']} 个文件在媒体存储中不存在"
                f"（如 {missing['examples'][0]}），备份里也没有"
            )
        self.stdout.write(
            f"已备份：{backup.counts_line(r.manifest)} → {r.path}"
            f"（归档 {r.archive_bytes / 1024 / 1024:.1f} MB，用时 {r.seconds:.1f} 秒）"
        )

    def _progress(self, line: str) -> None:
        if self.verbosity >= 1:
            self.stdout.write(line)
            self.stdout.flush()
