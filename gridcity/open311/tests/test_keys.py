from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from gridcity.open311.keys import authenticate_key
from gridcity.open311.models import ApiKey

pytestmark = pytest.mark.django_db


def test_it_creates_a_key_stored_hashed_and_revokes_it():
    out = StringIO()
    call_command("open311-key", "create", "hotline", stdout=out, stderr=StringIO())
    raw = out.getvalue().strip()
    key = ApiKey.objects.get(name="hotline")
    assert raw not in (key.key_hash, key.prefix) and raw.startswith(key.prefix)
    assert authenticate_key(raw) == key
    with pytest.raises(CommandError):
        call_command("open311-key", "create", "hotline", stdout=StringIO())
    call_command("open311-key", "revoke", "hotline", stdout=StringIO())
    assert authenticate_key(raw) is None
    with pytest.raises(CommandError):
        call_command("open311-key", "revoke", "hotline", stdout=StringIO())
    listing = StringIO()
    call_command("open311-key", "list", stdout=listing)
    assert "revoked" in listing.getvalue()
