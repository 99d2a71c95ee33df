"""Issuing, revoking and checking Open311 api_keys."""

from django.utils import timezone

from gridcity.open311.models import ApiKey, hash_key


class KeyExists(Exception):
    pass


def do_create_api_key(name: str) -> str:
    """Returns the raw key; only its hash is stored, so it is shown once."""
    name = name.strip()
    if not name:
        raise ValueError("name is required")
    if ApiKey.objects.filter(name=name).exists():
        raise KeyExists(name)
    raw = ApiKey.generate_raw()
    ApiKey.objects.create(name=name, key_hash=hash_key(raw), prefix=raw[:10])
    return raw


def do_revoke_api_key(name: str) -> bool:
    """True if an active key was revoked. Conditional update: revoking twice is harmless."""
    return bool(
        ApiKey.objects.filter(name=name, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


def authenticate_key(raw: str | None) -> ApiKey | None:
    if not raw or len(raw) > 200:
        return None
    key = ApiKey.objects.filter(key_hash=hash_key(raw), revoked_at__isnull=True).first()
    if key is None:
        return None
    now = timezone.now()
    # Touch at most once a minute: a busy partner should not write on every request.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
