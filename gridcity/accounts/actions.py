import csv
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from gridcity.accounts.models import ApiToken, Department, Role, User, hash_token

SYSTEM_USERNAME = "system"


_system_user: dict[str, User] = {}


def get_system_user() -> User:
    """The actor of automatic steps (auto-filing, auto-dispatch, the deadline sweeper); read
    once per process."""
    user = _system_user.get("user")
    if user is None:
        user, _ = User.objects.get_or_create(
            username=SYSTEM_USERNAME,
            defaults={"role": Role.SYSTEM, "display_name": "系统", "is_active": False},
        )
        _system_user["user"] = user
    return user


def forget_system_user() -> None:
    _system_user.clear()


def do_create_token(user: User, *, name: str = "") -> str:
    """Returns the raw token; only its hash is stored."""
    raw = ApiToken.generate_raw()
    ApiToken.objects.create(user=user, name=name, key_hash=hash_token(raw), prefix=raw[:10])
    return raw


def authenticate_token(raw: str) -> User | None:
    if not raw:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    # Touch at most once a minute: a busy device should not write on every request.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


class DepartmentsRejected(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class DepartmentsResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


def import_departments(path: Path) -> DepartmentsResult:
    """CSV `code,name,parent_code`. Parents may come later in the file. All or nothing."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DepartmentsRejected([f"无法读取文件：{exc}"]) from exc
    # Comment lines become blank lines so that line numbers in messages match the file.
    reader = csv.DictReader("" if ln.startswith("#") else ln for ln in text.splitlines())
    missing = [c for c in ("code", "name", "parent_code") if c not in (reader.fieldnames or [])]
    if missing:
        raise DepartmentsRejected([f"第1行：缺少列 {', '.join(missing)}"])
    rows, errors, seen = [], [], {}
    for row in reader:
        line = reader.line_num
        code = (row["code"] or "").strip()
        name = (row["name"] or "").strip()
        parent = (row["parent_code"] or "").strip()
        if not code:
            errors.append(f"第{line}行 [code]：不能为空")
            continue
        if not name:
            errors.append(f"第{line}行 [name]：不能为空")
            continue
        if code in seen:
            errors.append(f"第{line}行 [code]：与第{seen[code]}行重复")
            continue
        seen[code] = line
        rows.append((line, code, name, parent))
    known = set(Department.objects.values_list("code", flat=True)) | set(seen)
    for line, code, _, parent in rows:
        if parent and parent not in known:
            errors.append(f"第{line}行 [parent_code]：上级部门 {parent} 不存在")
        if parent == code:
            errors.append(f"第{line}行 [parent_code]：不能以自己为上级")
    parent_of = dict(
        Department.objects.filter(parent__isnull=False).values_list("code", "parent__code")
    )
    parent_of.update({code: parent for _, code, _, parent in rows if parent})
    for line, code, _, _ in rows:
        seen_chain, cur = {code}, parent_of.get(code)
        while cur:
            if cur in seen_chain:
                errors.append(f"第{line}行 [parent_code]：上级关系形成循环（{code}）")
                break
            seen_chain.add(cur)
            cur = parent_of.get(cur)
    if errors:
        raise DepartmentsRejected(errors)
    result = DepartmentsResult()
    with transaction.atomic():
        by_code = {d.code: d for d in Department.objects.all()}
        for _, code, name, _ in rows:
            dept = by_code.get(code)
            if dept is None:
                by_code[code] = Department.objects.create(code=code, name=name)
                result.created.append(code)
            else:
                dept.name = name
                dept.save(update_fields=["name"])
                result.updated.append(code)
        for _, code, _, parent in rows:
            dept = by_code[code]
            dept.parent = by_code.get(parent) if parent else None
            dept.save(update_fields=["parent"])
    return result
