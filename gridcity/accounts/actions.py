import csv
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext

from gridcity.accounts import audit
from gridcity.accounts.models import (
    DEPARTMENT_ROLES,
    ApiToken,
    Department,
    Role,
    SignInEvent,
    User,
    hash_token,
)
from gridcity.lib.tables import RowError, UnreadableTable, field_errors, read_table

SYSTEM_USERNAME = "system"


_system_user: dict[str, User] = {}


def get_system_user() -> User:
    """The actor of automatic steps (auto-filing, auto-dispatch, the deadline sweeper); read
    once per process."""
    user = _system_user.get("user")
    if user is None:
        user, created = User.objects.get_or_create(
            username=SYSTEM_USERNAME,
            defaults={"role": Role.SYSTEM, "display_name": "系统", "is_active": False},
        )
        if created:
            # Made inside someone's transaction: other threads may use it once it is committed
            # (a rollback takes the row away again).
            transaction.on_commit(lambda: _system_user.setdefault("user", user))
        else:
            _system_user["user"] = user
    return user


def forget_system_user() -> None:
    _system_user.clear()


class TokenNotUsable(ValueError):
    pass


def token_lifetime() -> timedelta:
    return timedelta(days=settings.GRIDCITY_TOKEN_LIFETIME_DAYS)


def _new_token(
    user: User, name: str, days: int | None, now: datetime | None = None
) -> tuple[ApiToken, str]:
    raw = ApiToken.generate_raw()
    lifetime = timedelta(days=days) if days else token_lifetime()
    now = now or timezone.now()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        key_hash=hash_token(raw),
        prefix=raw[:10],
        created_at=now,
        expires_at=now + lifetime,
    )
    return token, raw


def do_create_token(
    user: User,
    *,
    name: str = "",
    days: int | None = None,
    acting_user: User | None = None,
    now: datetime | None = None,
) -> str:
    """Returns the raw token; only its hash is stored. It expires after `days` (default
    GRIDCITY_TOKEN_LIFETIME_DAYS)."""
    with transaction.atomic():
        token, raw = _new_token(user, name, days, now)
        audit.record(
            token,
            "create_token",
            at=now,
            actor=acting_user,
            summary=f"为 {user.username} 生成令牌 {token.prefix}…，有效期至 {_local(token.expires_at)}",
            data={
                "user": user.username,
                "prefix": token.prefix,
                "expires_at": token.expires_at.isoformat(),
            },
        )
    return raw


def do_rotate_token(
    token: ApiToken, *, acting_user: User | None, grace: timedelta | None = None
) -> tuple[ApiToken, str]:
    """A new token for the same user and device; the old one keeps working for the grace period
    (GRIDCITY_TOKEN_ROTATION_GRACE_HOURS; zero revokes it at once) so that a device in the field
    can switch over, then stops."""
    if grace is None:
        grace = timedelta(hours=settings.GRIDCITY_TOKEN_ROTATION_GRACE_HOURS)
    with transaction.atomic():
        old = ApiToken.objects.select_for_update().get(pk=token.pk)
        now = timezone.now()
        if not old.is_usable(now):
            raise TokenNotUsable("该令牌已吊销或已过期，不能轮换")
        new, raw = _new_token(old.user, old.name, None)
        old.replaced_by = new
        fields = ["replaced_by"]
        if grace <= timedelta(0):
            old.revoked_at = now
            fields.append("revoked_at")
        elif old.expires_at > now + grace:
            old.expires_at = now + grace
            fields.append("expires_at")
        old.save(update_fields=fields)
        audit.record(
            old,
            "rotate_token",
            actor=acting_user,
            summary=f"令牌 {old.prefix}… 轮换为 {new.prefix}…",
            data={
                "new_prefix": new.prefix,
                "old_valid_until": (old.revoked_at or old.expires_at).isoformat(),
                "new_expires_at": new.expires_at.isoformat(),
            },
        )
    token.refresh_from_db()
    return new, raw


def do_revoke_token(token: ApiToken, *, acting_user: User | None) -> bool:
    """Conditional update: a token revoked earlier keeps its original revocation time."""
    with transaction.atomic():
        done = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if done:
            audit.record(
                token, "revoke_token", actor=acting_user, summary=f"吊销令牌 {token.prefix}…"
            )
            # A conditional update sends no signal: drop the cached lookup here.
            transaction.on_commit(lambda: forget_token(token.key_hash))
    forget_token(token.key_hash)
    return bool(done)


class TokenExpired(Exception):
    """A token that was valid and has run out: the API says so (401), so the device's owner
    knows to ask for a new one rather than suspect a typo."""

    def __init__(self, expired_at: datetime) -> None:
        super().__init__(
            gettext("令牌已于 %(time)s 过期，请重新申请或轮换令牌") % {"time": _local(expired_at)}
        )
        self.expired_at = expired_at
        self.message = str(self)


# Every API request starts with its token: the lookup is kept in the shared cache (Redis when
# configured, so every node sees a revocation at once) for a minute at most, and dropped by any
# change to the token or its user (forget_tokens_of, accounts.signals).
TOKEN_CACHE_SECONDS = 60


def _token_cache_key(key_hash: str) -> str:
    return f"apitoken:{key_hash}"


def authenticate_token(raw: str, *, explain: bool = False) -> User | None:
    """The user of a live token, or None. With `explain`, a token that exists but has expired
    raises TokenExpired instead of answering None."""
    if not raw:
        return None
    key_hash = hash_token(raw)
    cache_key = _token_cache_key(key_hash)
    entry = cache.get(cache_key)
    if entry is None:
        token = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=key_hash, revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        if token is None:
            return None
        entry = {"pk": token.pk, "user": token.user, "expires_at": token.expires_at}
        entry["last_used_at"] = token.last_used_at
        cache.set(cache_key, entry, TOKEN_CACHE_SECONDS)
    now = timezone.now()
    if entry["expires_at"] <= now:
        if explain:
            raise TokenExpired(entry["expires_at"])
        return None
    # Touch at most once a minute: a busy device should not write on every request.
    last = entry["last_used_at"]
    if last is None or (now - last).total_seconds() > 60:
        ApiToken.objects.filter(pk=entry["pk"]).update(last_used_at=now)
        entry["last_used_at"] = now
        cache.set(cache_key, entry, TOKEN_CACHE_SECONDS)
    return entry["user"]


def forget_token(key_hash: str) -> None:
    cache.delete(_token_cache_key(key_hash))


def forget_tokens_of(user_id: int) -> None:
    """After a change to a user (role, department, deactivation): their tokens are looked up
    afresh, so the next request runs with the user as they now are."""
    hashes = ApiToken.objects.filter(user_id=user_id).values_list("key_hash", flat=True)
    cache.delete_many([_token_cache_key(h) for h in hashes])


def _local(at: datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")


# --- Sign-in history and second factor ------------------------------------------------------


def record_sign_in(
    request: HttpRequest,
    *,
    username: str,
    outcome: str,
    user: User | None = None,
    two_factor: bool = False,
) -> SignInEvent:
    from gridcity.accounts.security import client_address

    if user is None and username:
        user = User.objects.filter(username=username).first()
    return SignInEvent.objects.create(
        user=user,
        username=username[:150],
        ip_address=client_address(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        outcome=outcome,
        two_factor=two_factor,
    )


def start_two_factor_enrolment(user: User):
    """The user's pending (unconfirmed) authenticator, made once so that reloading the page
    shows the same QR code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="身份验证器", confirmed=False)
    return device


def do_confirm_two_factor(user: User, code: str, *, acting_user: User):
    """Confirms the pending authenticator with a code from it; any older device is removed.
    Returns the device, or None when the code is wrong."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("-pk")
            .first()
        )
        if device is None or not device.verify_token(code):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        audit.record(user, "enable_two_factor", actor=acting_user, summary="启用两步验证")
    return device


def do_disable_two_factor(user: User, *, acting_user: User, reason: str = "") -> int:
    """Removes every authenticator of the user: by the user (optional enrolment) or by an
    administrator (a lost phone). The next sign-in of a role that requires 2FA enrols again."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    with transaction.atomic():
        count, _ = TOTPDevice.objects.filter(user=user).delete()
        action = "disable_two_factor" if acting_user.pk == user.pk else "reset_two_factor"
        summary = "停用两步验证" if acting_user.pk == user.pk else "管理员重置两步验证"
        audit.record(
            user,
            action,
            actor=acting_user,
            summary=summary + (f"：{reason}" if reason else ""),
            data={"devices_removed": count},
        )
    return count


def do_change_password(user: User, new_password: str, *, acting_user: User) -> None:
    """Validated by the caller's form (AUTH_PASSWORD_VALIDATORS); the audit row says only that
    it changed."""
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit.record(user, "change_password", actor=acting_user, summary="修改登录密码")


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
        too_long = field_errors(line, Department, {"code": code, "name": name})
        if too_long:
            errors.extend(str(e) for e in too_long)
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


# --- Users from the command line and from a file ----------------------------------------------

ASSIGNABLE_ROLES = [role for role in Role if role != Role.SYSTEM]


def beat_model() -> type[models.Model]:
    """grids.Beat, reached through the user's own relation (a beat's manager): accounts and
    grids sit side by side in the layers and do not import each other."""
    return User._meta.get_field("beats").related_model


def _name_key(text: str) -> str:
    return " ".join(text.replace("_", " ").replace("-", " ").split()).casefold()


def _role_names(role: Role) -> set[str]:
    """A role is named by its code or by its label in Chinese or in English."""
    names = {role.value}
    for language in ("zh-hans", "en"):
        with translation.override(language):
            names.add(str(role.label))
    return {_name_key(n) for n in names}


def resolve_role(text: str) -> Role | None:
    key = _name_key(text)
    return next((role for role in ASSIGNABLE_ROLES if key in _role_names(role)), None)


def role_choices() -> str:
    return ", ".join(
        gettext("%(code)s（%(label)s）") % {"code": role.value, "label": role.label}
        for role in ASSIGNABLE_ROLES
    )


class UserDirectory:
    """What a user's row may name, each by its code or its (unique) name: departments and
    beats, read once for a command or for a whole file."""

    def __init__(self) -> None:
        self.departments = list(Department.objects.order_by("code"))
        self.beats = list(beat_model().objects.order_by("code"))

    @staticmethod
    def _find(items: list, text: str):
        found = next((item for item in items if item.code == text), None)
        if found is None:
            named = [item for item in items if item.name == text]
            found = named[0] if len(named) == 1 else None
        return found

    def department(self, text: str) -> Department | None:
        return self._find(self.departments, text)

    def beat(self, text: str):
        return self._find(self.beats, text)

    def department_choices(self) -> str:
        return ", ".join(d.code for d in self.departments if d.is_active) or gettext(
            "（还没有部门）"
        )

    def beat_choices(self) -> str:
        return ", ".join(b.code for b in self.beats) or gettext("（还没有责任网格）")


@dataclass
class UserFields:
    """A user as a command or a row of a file describes them, checked. Fields not in `given`
    were not stated and are left as they are when an existing user is updated."""

    username: str
    role: str
    department: Department | None = None
    beats: list = field(default_factory=list)
    email: str = ""
    full_name: str = ""
    phone: str = ""
    given: frozenset[str] = frozenset()


# The user's model field behind each described field, for the length and format checks.
_MODEL_FIELDS = {
    "username": "username",
    "email": "email",
    "full_name": "display_name",
    "phone": "phone",
}


def check_user_fields(
    directory: UserDirectory,
    *,
    username: str,
    role: str,
    department: str | None = None,
    beats: list[str] | None = None,
    email: str | None = None,
    full_name: str | None = None,
    phone: str | None = None,
    existing: User | None = None,
    list_choices: bool = False,
) -> tuple[UserFields | None, list[tuple[str, str]]]:
    """The described user, or the problems as (field, reason) pairs. None means "not stated";
    `existing` is the user a file row updates (their department may stand for a missing one);
    `list_choices` adds the valid departments and beats to a reason (for a command: a file
    would repeat them on every line)."""
    errors: list[tuple[str, str]] = []
    username = (username or "").strip()
    if not username:
        errors.append(("username", gettext("不能为空")))
    texts = {"username": username, "email": email, "full_name": full_name, "phone": phone}
    model_values = {_MODEL_FIELDS[name]: value.strip() for name, value in texts.items() if value}
    described_as = {model_field: name for name, model_field in _MODEL_FIELDS.items()}
    for problem in field_errors(0, User, model_values):
        errors.append((described_as[problem.column], problem.reason))

    resolved_role = resolve_role(role or "")
    if not (role or "").strip():
        errors.append(
            ("role", gettext("不能为空；可选：%(choices)s") % {"choices": role_choices()})
        )
    elif resolved_role is None:
        errors.append(
            (
                "role",
                gettext("角色“%(value)s”不存在；可选：%(choices)s")
                % {"value": role.strip(), "choices": role_choices()},
            )
        )

    dept = None
    if department and department.strip():
        dept = directory.department(department.strip())
        if dept is None:
            reason = gettext("部门“%(value)s”不存在") % {"value": department.strip()}
            if list_choices:
                reason += gettext("；可选：%(choices)s") % {
                    "choices": directory.department_choices()
                }
            errors.append(("department", reason))
        elif not dept.is_active:
            errors.append(("department", gettext("部门“%(value)s”已停用") % {"value": dept.code}))
            dept = None
    elif resolved_role in DEPARTMENT_ROLES:
        keeps_one = department is None and existing is not None and existing.department_id
        if not keeps_one:
            errors.append(
                ("department", gettext("%(role)s必须属于一个部门") % {"role": resolved_role.label})
            )

    found_beats = []
    for text in [b.strip() for b in beats or [] if b.strip()]:
        beat = directory.beat(text)
        if beat is None:
            reason = gettext("网格“%(value)s”不存在") % {"value": text}
            if list_choices:
                reason += gettext("；可选：%(choices)s") % {"choices": directory.beat_choices()}
            errors.append(("beat", reason))
        elif beat not in found_beats:
            found_beats.append(beat)
    if found_beats and resolved_role is not None and resolved_role != Role.INSPECTOR:
        errors.append(
            (
                "beat",
                gettext("只有网格员负责责任网格，%(role)s不能指定网格")
                % {"role": resolved_role.label},
            )
        )
    if errors:
        return None, errors
    given = {"username", "role"}
    given.update(name for name, value in texts.items() if value is not None)
    if department is not None:
        given.add("department")
    if beats is not None:
        given.add("beats")
    described = UserFields(
        username=username,
        role=resolved_role,
        department=dept,
        beats=found_beats,
        email=(email or "").strip(),
        full_name=(full_name or "").strip(),
        phone=(phone or "").strip(),
        given=frozenset(given),
    )
    return described, []


class UserExists(ValueError):
    pass


@dataclass
class BeatHandover:
    beat: str
    previous: str  # the username of the grid manager who had the beat, "" if nobody
    manager: str


def _set_admin_flags(user: User, previous_role: str | None) -> None:
    """The system administrator role is the admin site's: staff with every permission. A user
    leaving that role loses them; a superuser made otherwise (createsuperuser) keeps them."""
    if user.role == Role.ADMIN:
        user.is_staff = user.is_superuser = True
    elif previous_role == Role.ADMIN:
        user.is_staff = user.is_superuser = False


def _assign_beats(user: User, beats: list, *, acting_user: User | None) -> list[BeatHandover]:
    """The user becomes the grid manager of exactly these beats; any other beat they had is
    left without one. Every change of a beat's manager leaves an audit row on the beat."""
    handovers = []
    wanted = {beat.pk for beat in beats}
    Beat = beat_model()
    current = list(Beat.objects.select_for_update().filter(manager=user).exclude(pk__in=wanted))
    locked = {
        b.pk: b
        for b in Beat.objects.select_for_update(of=("self",))
        .select_related("manager")
        .filter(pk__in=wanted)
    }
    for beat in current:
        beat.manager = None
        beat.save(update_fields=["manager"])
        audit.record(
            beat,
            "set_beat_manager",
            actor=acting_user,
            summary=gettext("%(beat)s 不再由 %(user)s 负责")
            % {"beat": beat.code, "user": user.username},
            data={"previous": user.username, "manager": None},
        )
    for beat in (locked[b.pk] for b in beats if b.pk in locked):
        if beat.manager_id == user.pk:
            continue
        previous = beat.manager.username if beat.manager_id else ""
        beat.manager = user
        beat.save(update_fields=["manager"])
        audit.record(
            beat,
            "set_beat_manager",
            actor=acting_user,
            summary=gettext("%(beat)s 改由 %(user)s 负责")
            % {"beat": beat.code, "user": user.username},
            data={"previous": previous or None, "manager": user.username},
        )
        handovers.append(BeatHandover(beat.code, previous, user.username))
    return handovers


def _describe(user: User) -> dict:
    return {
        "role": user.role,
        "department": user.department.code if user.department_id else None,
        "email": user.email,
        "full_name": user.display_name,
        "phone": user.phone,
    }


def do_create_user(
    fields: UserFields, *, password: str | None, acting_user: User | None
) -> tuple[User, list[BeatHandover]]:
    """A new account with its role, department and beats. Without a password the account
    cannot sign in until an administrator sets one."""
    with transaction.atomic():
        if User.objects.filter(username=fields.username).exists():
            raise UserExists(gettext("用户“%(username)s”已存在") % {"username": fields.username})
        user = User(
            username=fields.username,
            role=fields.role,
            department=fields.department,
            email=fields.email,
            display_name=fields.full_name,
            phone=fields.phone,
        )
        _set_admin_flags(user, None)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:  # made by someone else since the check above
            raise UserExists(
                gettext("用户“%(username)s”已存在") % {"username": fields.username}
            ) from exc
        handovers = _assign_beats(user, fields.beats, acting_user=acting_user)
        audit.record(
            user,
            "create_user",
            actor=acting_user,
            summary=gettext("新建用户 %(username)s（%(role)s）")
            % {"username": user.username, "role": user.get_role_display()},
            data={**_describe(user), "beats": [b.code for b in fields.beats]},
        )
    return user, handovers


def do_update_user(
    user: User, fields: UserFields, *, acting_user: User | None
) -> tuple[list[str], list[BeatHandover]]:
    """Changes what `fields` states (never the password). Returns the names of the changed
    fields and the beats handed over; an unchanged user gets no audit row."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        before = _describe(user)
        previous_role = user.role
        user.role = fields.role
        if "department" in fields.given:
            user.department = fields.department
        if "email" in fields.given:
            user.email = fields.email
        if "full_name" in fields.given:
            user.display_name = fields.full_name
        if "phone" in fields.given:
            user.phone = fields.phone
        _set_admin_flags(user, previous_role)
        after = _describe(user)
        changed = [name for name in after if after[name] != before[name]]
        if changed:
            user.save(
                update_fields=[
                    "role",
                    "department",
                    "email",
                    "display_name",
                    "phone",
                    "is_staff",
                    "is_superuser",
                ]
            )
        handovers = []
        if "beats" in fields.given or user.role != Role.INSPECTOR:
            beats = fields.beats if user.role == Role.INSPECTOR else []
            had = set(beat_model().objects.filter(manager=user).values_list("pk", flat=True))
            handovers = _assign_beats(user, beats, acting_user=acting_user)
            if had != {b.pk for b in beats}:
                changed.append("beats")
        if changed:
            audit.record(
                user,
                "update_user",
                actor=acting_user,
                summary=gettext("修改用户 %(username)s：%(fields)s")
                % {"username": user.username, "fields": ", ".join(changed)},
                data={
                    "before": {k: before[k] for k in changed if k in before},
                    "after": {k: after[k] for k in changed if k in after},
                    "beats": [b.code for b in fields.beats] if "beats" in changed else None,
                },
            )
    return changed, handovers


def generate_password(user: User | None = None) -> str:
    """A random password that passes the site's password rules."""
    while True:
        password = secrets.token_urlsafe(12)
        try:
            validate_password(password, user)
        except ValidationError:
            continue
        return password


# The columns of a users file, each with the names its header may give it (Chinese or English,
# any case; spaces, "_" and "-" alike).
USER_COLUMNS = {
    "username": ("username", "user", "login", "用户名", "账号", "登录名"),
    "full_name": ("full name", "name", "display name", "姓名", "名字"),
    "role": ("role", "角色"),
    "department": ("department", "department code", "部门", "所属部门", "部门代码"),
    "beat": ("beat", "beats", "beat code", "网格", "责任网格"),
    "email": ("email", "e mail", "mail", "邮箱", "电子邮箱", "电子邮件"),
    "phone": ("phone", "telephone", "电话", "手机"),
}
REQUIRED_USER_COLUMNS = ("username", "role")
# Several beats in one cell: "B01; B02" or "B01、B02".
_BEAT_SEPARATORS = re.compile(r"[;；、]")


class UsersRejected(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class UsersResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)  # of the users created
    handovers: list[BeatHandover] = field(default_factory=list)


def _user_header(header: list[str], line: int) -> dict[str, int]:
    aliases = {_name_key(a): column for column, names in USER_COLUMNS.items() for a in names}
    positions: dict[str, int] = {}
    errors = []
    for i, heading in enumerate(header):
        if not heading:
            continue
        column = aliases.get(_name_key(heading))
        if column is None:
            errors.append(
                RowError(
                    line,
                    heading,
                    gettext("不认识的列；可用的列：%(columns)s")
                    % {"columns": ", ".join(names[0] for names in USER_COLUMNS.values())},
                )
            )
        elif column in positions:
            errors.append(RowError(line, heading, gettext("与另一列重复")))
        else:
            positions[column] = i
    for column in REQUIRED_USER_COLUMNS:
        if column not in positions:
            errors.append(RowError(line, column, gettext("缺少此列")))
    if errors:
        raise UsersRejected(errors)
    return positions


def import_users(path: Path, *, acting_user: User | None = None) -> UsersResult:
    """A CSV or XLSX file of users, one a row: username, full name, role, department, beat,
    email, phone (a header in Chinese or English names them; only username and role are
    required). New users get a generated password (returned, shown once); existing users are
    updated, never their password. A column the file leaves out is left as it is. All or
    nothing: every rejected row is named by its line."""
    try:
        rows = read_table(Path(path))
    except UnreadableTable as exc:
        raise UsersRejected([RowError(1, "-", exc.message)]) from exc
    header_at = next((i for i, r in enumerate(rows) if any(r)), None)
    if header_at is None:
        raise UsersRejected([RowError(1, "-", gettext("文件为空"))])
    positions = _user_header(rows[header_at], header_at + 1)
    directory = UserDirectory()
    existing = {u.username: u for u in User.objects.select_related("department")}
    errors: list[RowError] = []
    planned: list[tuple[UserFields, User | None]] = []
    first_line: dict[str, int] = {}
    beat_line: dict[str, tuple[int, str]] = {}
    for line, row in enumerate(rows[header_at + 1 :], start=header_at + 2):
        if not any(row):
            continue

        def cell(column: str, row=row) -> str | None:
            if column not in positions:
                return None
            i = positions[column]
            return row[i] if i < len(row) else ""

        beat_text = cell("beat")
        username = (cell("username") or "").strip()
        described, problems = check_user_fields(
            directory,
            username=username,
            role=cell("role") or "",
            department=cell("department"),
            beats=_BEAT_SEPARATORS.split(beat_text) if beat_text is not None else None,
            email=cell("email"),
            full_name=cell("full_name"),
            phone=cell("phone"),
            existing=existing.get(username),
        )
        headings = rows[header_at]
        for name, reason in problems:
            column = headings[positions[name]] if name in positions else name
            errors.append(RowError(line, column, reason))
        if existing.get(username) is not None and existing[username].role == Role.SYSTEM:
            errors.append(
                RowError(line, headings[positions["username"]], gettext("系统账号不能修改"))
            )
            continue
        if username and username in first_line:
            errors.append(
                RowError(
                    line,
                    headings[positions["username"]],
                    gettext("与第%(line)s行重复") % {"line": first_line[username]},
                )
            )
            continue
        first_line.setdefault(username, line)
        if described is None:
            continue
        for beat in described.beats:
            if beat.code in beat_line:
                other_line, other_user = beat_line[beat.code]
                errors.append(
                    RowError(
                        line,
                        headings[positions["beat"]],
                        gettext("网格“%(beat)s”已在第%(line)s行分给 %(user)s")
                        % {"beat": beat.code, "line": other_line, "user": other_user},
                    )
                )
            beat_line.setdefault(beat.code, (line, username))
        planned.append((described, existing.get(username)))
    if errors:
        raise UsersRejected(errors)
    if not planned:
        raise UsersRejected([RowError(header_at + 2, "-", gettext("没有任何数据行"))])
    result = UsersResult()
    with transaction.atomic():
        for described, user in planned:
            if user is None:
                password = generate_password()
                _user, handovers = do_create_user(
                    described, password=password, acting_user=acting_user
                )
                result.created.append(described.username)
                result.passwords[described.username] = password
            else:
                changed, handovers = do_update_user(user, described, acting_user=acting_user)
                (result.updated if changed else result.unchanged).append(described.username)
            result.handovers.extend(handovers)
    return result
