from django.core.management.base import BaseCommand, CommandError

from gridcity.system import backup


class Command(BaseCommand):
    help = (
        "从 gridcity backup 的归档恢复数据库和媒体文件，然后逐项校验（案件、事件、附件、考评快照、"
        "用户的行数，每个媒体文件的 SHA-256），有不符时以非零状态退出。"
        "恢复前先停止网站和所有后台进程：SQLite 的数据库文件会被整个替换，必须停机。"
        "目标数据库必须是空的（没有任何案件和用户：没有表、或只执行过 migrate），"
        "且与备份是同一种数据库（SQLite 对 SQLite，PostgreSQL 对 PostgreSQL）；"
        "--force 覆盖非空的数据库和内容不同的同名媒体文件。"
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="gridcity backup 写出的 .tar 归档")
        parser.add_argument(
            "--force",
            action="store_true",
            help="目标数据库不是空的、或媒体存储中有内容不同的同名文件时仍然覆盖",
        )

    def handle(self, *args, **o):
        self.verbosity = o["verbosity"]
        try:
            r = backup.restore_backup(o["archive"], force=o["force"], progress=self._progress)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"媒体文件：写入 {r.media_written} 个，已存在且相同 {r.media_identical} 个"
        )
        self.stdout.write("校验（备份 → 恢复后）：")
        for c in r.checks:
            mark = "✓" if c.ok else "✗"
            self.stdout.write(f"  {mark} {c.what}：{c.expected} → {c.actual}")
        for note in r.notes:
            self.stderr.write(f"注意：{note}")
        if not r.ok:
            failed = sum(not c.ok for c in r.checks)
            raise CommandError(f"恢复后的校验有 {failed} 项不符（见上），请勿启用这份数据")
        self.stdout.write(
            f"已恢复并校验：{backup.counts_line(r.manifest)} ← {o['archive']}"
            f"（备份于 {r.manifest['created_at']}，用时 {r.seconds:.1f} 秒）"
        )

    def _progress(self, line: str) -> None:
        if self.verbosity >= 1:
            self.stdout.write(line)
            self.stdout.flush()
