"""`field_errors`: the values of a file's row that the model's columns would refuse, named by
line and column, with the limits read from the models themselves."""

import pytest
from openpyxl import Workbook

from gridcity.accounts.models import Department, User
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.lib.tables import RowError, UnreadableTable, field_errors, read_table


def test_a_value_longer_than_its_column_is_named_by_line_and_column():
    errors = field_errors(
        7, Department, {"code": "D" * 101, "name": "好的"}, columns={"code": "代码"}
    )
    assert [str(e) for e in errors] == [
        "第7行 [代码]：确保该变量包含不超过 100 字符 (目前字符数 101)。"
    ]


def test_a_value_as_long_as_its_column_and_an_empty_value_pass():
    assert field_errors(2, Department, {"code": "D" * 100, "name": ""}) == []


def test_an_integer_is_held_to_the_range_every_database_accepts():
    (error,) = field_errors(3, ResponsibilityRule, {"priority": 2**31})
    assert (error.line, error.column) == (3, "priority")
    assert field_errors(3, ResponsibilityRule, {"priority": 2**31 - 1}) == []


def test_the_fields_own_validators_apply():
    errors = field_errors(4, User, {"email": "not-an-address", "username": "good.name"})
    assert [e.column for e in errors] == ["email"]
    assert isinstance(errors[0], RowError)


def test_a_csv_and_an_xlsx_read_alike(tmp_path):
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("# a comment\ncode,name\n A1 ,甲\n", encoding="utf-8")
    xlsx_path = tmp_path / "rows.xlsx"
    wb = Workbook()
    for row in [[None, None], ["code", "name"], [" A1 ", "甲"]]:
        wb.active.append(row)
    wb.save(xlsx_path)
    assert read_table(csv_path) == [[], ["code", "name"], ["A1", "甲"]]
    assert read_table(xlsx_path) == [["", ""], ["code", "name"], ["A1", "甲"]]


def test_a_broken_csv_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("code,name\n" + "x" * 200_000 + ",甲\n", encoding="utf-8")
    with pytest.raises(UnreadableTable, match="CSV 格式错误"):
        read_table(path)
