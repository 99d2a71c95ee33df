"""Files of rows brought in by the import commands: read from CSV or XLSX, each value checked
against the model field it will be stored in (or looked up by), and every problem named by its
line in the file.

Every import checks the whole file before writing anything. A value longer than its column
would otherwise be cut by one database and refused by another in the middle of the import, so
the limits are read from the models themselves: a migration that widens a column widens what
the import accepts, with nothing else to change."""

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.utils.translation import gettext as _


@dataclass
class RowError:
    """One rejected value: the line of the file (the header is line 1), the column as the file
    names it, and why."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return _("第%(line)s行 [%(column)s]：%(reason)s") % {
            "line": self.line,
            "column": self.column,
            "reason": self.reason,
        }


class UnreadableTable(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def read_table(path: Path) -> list[list[str]]:
    """Rows of a CSV (UTF-8 with or without BOM; GB18030/GBK accepted) or XLSX file (its first
    sheet), header first, every cell a stripped string. Lines starting with "#" in a CSV become
    empty rows, so that row i is line i + 1 of the file."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except FileNotFoundError:
            raise
        except Exception as exc:  # openpyxl raises zipfile and KeyError variants
            raise UnreadableTable(_("无法读取 XLSX 文件：%(error)s") % {"error": exc}) from exc
        ws = wb.worksheets[0]
        rows = [
            ["" if v is None else str(v).strip() for v in row]
            for row in ws.iter_rows(values_only=True)
        ]
        wb.close()
        return rows
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnreadableTable(_("文件编码无法识别，请使用 UTF-8"))
    lines = ["" if ln.startswith("#") else ln for ln in text.splitlines()]
    try:
        return [[c.strip() for c in row] for row in csv.reader(lines)]
    except csv.Error as exc:  # a NUL byte, a field beyond the size limit
        raise UnreadableTable(_("CSV 格式错误：%s") % exc) from exc


def field_errors(
    line: int,
    model: type[models.Model],
    values: Mapping[str, object],
    *,
    columns: Mapping[str, str] | None = None,
) -> list[RowError]:
    """The values of one row (keyed by the model's field names) that the model's fields would
    refuse: longer than the column's max_length, a number out of the column's range, an invalid
    e-mail address or user name. `columns` names each field as the file's header does; empty
    values are left to the caller (whether a value is required depends on the row)."""
    columns = columns or {}
    errors = []
    for name, value in values.items():
        field = model._meta.get_field(name)
        if value in field.empty_values:
            continue
        validators = list(field.validators)
        # SQLite stores any integer: the range every supported database accepts is checked
        # too, so that a file means the same on a test machine and in production.
        portable = BaseDatabaseOperations.integer_field_ranges.get(field.get_internal_type())
        if portable:
            validators += [MinValueValidator(portable[0]), MaxValueValidator(portable[1])]
        messages: list[str] = []
        for validator in validators:
            try:
                validator(value)
            except ValidationError as exc:
                messages.extend(m for m in exc.messages if m not in messages)
        if messages:
            errors.append(RowError(line, columns.get(name, name), " ".join(messages)))
    return errors
