"""The admin site: every model registered on it, GridCity's and the libraries' alike, leaves an
AuditEntry for each record added, changed or deleted there and for each bulk action run on it,
with who, when and which fields went from what to what. No ModelAdmin needs code for it: the
site wraps each one in `AuditedModelAdmin` as it is registered.

Values are kept as text an auditor can read (a related record as "name #id"); secrets never
are: a password hash, a token's hash, a TOTP key or a signing secret is recorded only as
changed. The audit row is written in the admin's own transaction, so a change and its row are
committed together or not at all.

Signing in to the admin is the product's sign-in page (with its lockout and second factor), and
the admin is closed to a session that still owes its second factor."""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import secrets
import uuid
from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.db import models, router, transaction
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

MAX_TEXT = 500
MAX_ITEMS = 50
SECRET_NAMES = frozenset({"password", "secret", "key_hash", "token_hash", "api_key"})
# django-otp's devices keep their shared secret in `key` (TOTP) or `token` (static codes).
OTP_SECRET_NAMES = frozenset({"key", "token"})
_STASH = "_gridcity_audit_before"
# Secrets are compared through a salted digest that lives only in this process, and stored as
# a mask: a row never holds anything derived from them.
_SALT = secrets.token_bytes(16)
MASK = "******"


def is_secret(model: type[models.Model], name: str) -> bool:
    name = name.lower()
    if name in SECRET_NAMES or name.endswith(("_hash", "_secret", "password")):
        return True
    return model._meta.app_label.startswith("otp_") and name in OTP_SECRET_NAMES


def _label(obj: models.Model | None) -> str | None:
    if obj is None:
        return None
    return _text(f"{obj} #{obj.pk}")


def _text(value: str) -> str:
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + f"…（共{len(value)}字符）"


def _plain(value: Any) -> Any:
    """A JSON value an auditor can read."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, FieldFile):
        return value.name or None
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return value if len(text) <= MAX_TEXT else _text(text)
    return _text(str(value))


def snapshot(obj: models.Model) -> dict[str, Any]:
    """Every field of a saved record, related records by label, secrets masked."""
    model = type(obj)
    out: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        if is_secret(model, field.name):
            raw = str(getattr(obj, field.attname)).encode()
            out[field.name] = ("secret", hashlib.sha256(_SALT + raw).hexdigest())
        elif field.is_relation:
            out[field.name] = _label(getattr(obj, field.name, None))
        else:
            out[field.name] = _plain(getattr(obj, field.attname))
    if obj.pk is not None:
        for field in model._meta.many_to_many:
            related = list(getattr(obj, field.name).all()[: MAX_ITEMS + 1])
            labels = sorted(_label(r) for r in related[:MAX_ITEMS])
            if len(related) > MAX_ITEMS:
                labels.append("…")
            out[field.name] = labels
    return out


def public(model: type[models.Model], values: dict[str, Any]) -> dict[str, Any]:
    """A snapshot fit to store: secrets masked."""
    return {k: (MASK if is_secret(model, k) else v) for k, v in values.items()}


def _fresh(obj: models.Model) -> models.Model | None:
    return type(obj)._default_manager.filter(pk=obj.pk).first()


def _verbose(model: type[models.Model], name: str) -> str:
    try:
        return str(model._meta.get_field(name).verbose_name)
    except Exception:  # noqa: BLE001 - a name from a message, not a field
        return name


def diff(model: type[models.Model], before: dict, after: dict) -> dict[str, dict]:
    changes = {}
    for name in after.keys() | before.keys():
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if is_secret(model, name):
            changes[name] = {"label": _verbose(model, name), "changed": True}
        else:
            changes[name] = {"label": _verbose(model, name), "old": old, "new": new}
    return changes


def _filled(model: type[models.Model], values: dict) -> dict[str, dict]:
    return {
        name: (
            {"label": _verbose(model, name), "changed": True}
            if is_secret(model, name)
            else {"label": _verbose(model, name), "old": None, "new": value}
        )
        for name, value in values.items()
        if value not in (None, "", [], {})
    }


def _summary(prefix: str, model: type[models.Model], changes: dict, obj: models.Model) -> str:
    fields = "、".join(c["label"] for c in changes.values())
    return f"{prefix}{model._meta.verbose_name}「{obj}」" + (f"：{fields}" if fields else "")


def _message_text(message: Any) -> str:
    if isinstance(message, list | dict):
        return json.dumps(message, ensure_ascii=False, default=str)
    return str(message or "")


def _watermark() -> int:
    from gridcity.accounts.models import AuditEntry

    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _record(
    request: HttpRequest,
    obj: models.Model,
    action: str,
    summary: str,
    data: dict,
    since: int | None = None,
) -> None:
    """One row per change. When the ModelAdmin's own code already wrote a row for this record
    in this request (rows after the `since` watermark), the changed values are added to it
    instead of a second row."""
    from gridcity.accounts import audit
    from gridcity.accounts.models import AuditEntry

    if since is not None:
        own = (
            AuditEntry.objects.filter(
                pk__gt=since, object_type=audit.object_type(obj), object_id=str(obj.pk)
            )
            .order_by("pk")
            .first()
        )
        if own is not None:
            own.data = {**(own.data or {}), "source": "admin", **data}
            own.save(update_fields=["data"])
            return
    actor = request.user if getattr(request.user, "is_authenticated", False) else None
    audit.record(obj, action, actor=actor, summary=summary, data={"source": "admin", **data})


class AuditedModelAdmin(admin.ModelAdmin):
    """Mixed in front of every registered ModelAdmin by `AuditedAdminSite.register`."""

    def _stash(self, request: HttpRequest) -> dict:
        stash = getattr(request, _STASH, None)
        if stash is None:
            stash = {}
            setattr(request, _STASH, stash)
        return stash

    def save_model(self, request, obj, form, change):
        self._stash(request)["watermark"] = _watermark()
        if change and obj.pk is not None:
            # The form has already written the new values into `obj`: read the old ones from
            # the database, many-to-many included (they are saved after this).
            old = _fresh(obj)
            if old is not None:
                self._stash(request)[(obj._meta.label_lower, str(obj.pk))] = snapshot(old)
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        model = formset.model
        before = {}
        for inline_form in formset.initial_forms:
            instance = inline_form.instance
            if instance.pk is not None and (
                inline_form.has_changed() or inline_form in formset.deleted_forms
            ):
                old = _fresh(instance)
                if old is not None:
                    before[str(instance.pk)] = snapshot(old)
        parent = _label(form.instance)
        for inline_form in formset.deleted_forms:
            # Recorded before the rows go, while they still have their ids.
            obj = inline_form.instance
            if obj.pk is not None and str(obj.pk) in before:
                _record(
                    request,
                    obj,
                    "admin_delete",
                    f"在配置管理中删除{model._meta.verbose_name}「{obj}」",
                    {"deleted": public(model, before[str(obj.pk)]), "parent": parent},
                )
        super().save_formset(request, form, formset, change)
        for obj in getattr(formset, "new_objects", []):
            changes = _filled(model, snapshot(obj))
            _record(
                request,
                obj,
                "admin_add",
                _summary("在配置管理中新增", model, changes, obj),
                {"changes": changes, "parent": parent},
            )
        for obj, _fields in getattr(formset, "changed_objects", []):
            changes = diff(model, before.get(str(obj.pk), {}), snapshot(obj))
            if changes:
                _record(
                    request,
                    obj,
                    "admin_change",
                    _summary("在配置管理中修改", model, changes, obj),
                    {"changes": changes, "parent": parent},
                )

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        fresh = _fresh(obj) or obj
        changes = _filled(type(obj), snapshot(fresh))
        _record(
            request,
            obj,
            "admin_add",
            _summary("在配置管理中新增", type(obj), changes, obj),
            {"changes": changes, "message": _message_text(message)},
            since=self._stash(request).get("watermark"),
        )
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        key = (obj._meta.label_lower, str(obj.pk))
        before = self._stash(request).pop(key, None)
        model = type(obj)
        if before is None:
            # Changed without the change form (e.g. the user admin's password page): the message
            # names what changed; the values were never read here.
            changes = {}
            has_password = any(f.name == "password" for f in model._meta.concrete_fields)
            if has_password and request.path.rstrip("/").endswith("/password"):
                changes["password"] = {"label": _verbose(model, "password"), "changed": True}
        else:
            changes = diff(model, before, snapshot(_fresh(obj) or obj))
        if changes or message:
            _record(
                request,
                obj,
                "admin_change",
                _summary("在配置管理中修改", model, changes, obj),
                {"changes": changes, "message": _message_text(message)},
                since=self._stash(request).get("watermark"),
            )
        return entry

    def log_deletions(self, request, queryset):
        objects = list(queryset)
        entries = super().log_deletions(request, objects)
        for obj in objects:
            _record(
                request,
                obj,
                "admin_delete",
                f"在配置管理中删除{type(obj)._meta.verbose_name}「{obj}」",
                {"deleted": public(type(obj), snapshot(obj))},
            )
        return entries

    def response_action(self, request, queryset):
        name = request.POST.get("action", "")
        action = self.get_actions(request).get(name)
        func = action[0] if action else None
        # delete_selected logs its deletions itself (log_deletions); an action that writes its
        # own audit rows (through a do_* action) says so with `audit_recorded = True`.
        if func is None or name == "delete_selected" or getattr(func, "audit_recorded", False):
            return super().response_action(request, queryset)
        with transaction.atomic(using=router.db_for_write(self.model)):
            response = super().response_action(request, queryset)
            if response is not None:
                description = str(action[2])
                selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
                if request.POST.get("select_across") == "1":
                    objects = list(queryset[:1000])
                else:
                    objects = list(self.model._default_manager.filter(pk__in=selected)[:1000])
                for obj in objects:
                    _record(
                        request,
                        obj,
                        "admin_action",
                        f"在配置管理中对{self.model._meta.verbose_name}「{obj}」执行：{description}",
                        {"admin_action": name, "after": public(self.model, snapshot(obj))},
                    )
        return response


class AuditedAdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AuditedModelAdmin):
            admin_class = type(
                admin_class.__name__,
                (AuditedModelAdmin, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        return super().register(model_or_iterable, admin_class, **options)

    def login(self, request, extra_context=None):
        """One sign-in page for everyone: the product's, with its lockout and second factor."""
        target = request.GET.get("next") or reverse("admin:index", current_app=self.name)
        return HttpResponseRedirect(reverse("web:login") + "?" + urlencode({"next": target}))

    def password_change(self, request, extra_context=None):
        """The account's own password page: the same validators, and an audit row."""
        return HttpResponseRedirect(reverse("web:password_change"))

    def has_permission(self, request):
        from gridcity.accounts.security import two_factor_required

        if not super().has_permission(request):
            return False
        user = request.user
        if two_factor_required(user, request.session):
            return bool(getattr(user, "is_verified", lambda: False)())
        return True
