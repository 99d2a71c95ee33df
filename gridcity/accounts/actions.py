import csv
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from gridcity.accounts import audit
from gridcity.accounts.models import (
    ApiToken,
    Department,
    Role,
    SignInEvent,
    User,
    hash_token,
)

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
        super().__init__(f"令牌已于 {_local(expired_at)} 过期，请重新申请或轮换令牌")
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
