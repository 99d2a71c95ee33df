"""Logins (issue 14, point 5), tried as an attacker and as the staff would: a password guessed
30 times in a row, a forged X-Forwarded-For, a centre account without its phone, an expired or
rotated API token, weak passwords, and the trail each attempt leaves.

Personas: a dispatcher (派遣员, centre staff: two-factor required), a grid manager (网格员:
two-factor optional), an administrator, and an attacker at 198.51.100.7."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from gridcity.accounts.actions import do_create_token, do_rotate_token
from gridcity.accounts.models import ApiToken, AuditEntry, Department, Role, SignInEvent
from gridcity.testing import make_person

pytestmark = pytest.mark.django_db

PASSWORD = "demo12345"
ATTACKER = "198.51.100.7"
LOCKED = "登录失败次数过多"


@pytest.fixture
def people():
    centre = Department.objects.create(code="ZX", name="指挥中心")
    return {
        "dispatcher": make_person("dispatcher", Role.DISPATCHER, centre, display_name="派遣员小王"),
        "inspector": make_person("inspector", Role.INSPECTOR, display_name="网格员小赵"),
        "admin": make_person("admin", Role.ADMIN, centre, is_staff=True, is_superuser=True),
    }


def client_at(address: str, **extra) -> Client:
    return Client(REMOTE_ADDR=address, HTTP_USER_AGENT="Mozilla/5.0 (probe)", **extra)


def sign_in(client: Client, username: str, password: str = PASSWORD, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def signed_in(client: Client) -> bool:
    return client.get("/account/").status_code == 200


def code_for(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


# --- Lockout ----------------------------------------------------------------------------------


def test_thirty_wrong_passwords_lock_the_account_and_the_client(people):
    attacker = client_at(ATTACKER)
    statuses = [sign_in(attacker, "dispatcher", f"guess-{i}").status_code for i in range(30)]
    # Four ordinary refusals, then "locked" from the fifth on (5 per account and client).
    assert statuses[:4] == [200] * 4
    assert set(statuses[4:]) == {429}

    # The 31st try, with the right password, is refused and says until when.
    r = sign_in(attacker, "dispatcher")
    assert r.status_code == 429
    body = r.content.decode()
    assert LOCKED in body and "后再试" in body
    until = timezone.localtime(timezone.now() + timedelta(minutes=15))
    assert until.strftime("%H:") in body
    assert not signed_in(attacker)

    # The client is locked for every account (20 per client)…
    r = sign_in(attacker, "inspector")
    assert r.status_code == 429 and not signed_in(attacker)
    # …and the account from every client (30 per account).
    elsewhere = client_at("203.0.113.20")
    assert sign_in(elsewhere, "dispatcher").status_code == 429
    # Another person at another desk is not affected.
    desk = client_at("203.0.113.21")
    assert sign_in(desk, "inspector").status_code == 302 and signed_in(desk)


def test_a_forged_forwarded_for_does_not_escape_the_lockout(people):
    attacker = client_at(ATTACKER)
    for i in range(5):
        sign_in(attacker, "inspector", f"guess-{i}")
    r = sign_in(attacker, "inspector", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert r.status_code == 429 and LOCKED in r.content.decode()


def test_behind_a_trusted_proxy_each_client_is_counted_apart(people, settings):
    settings.GRIDCITY_TRUSTED_PROXIES = ["10.0.0.10"]
    balancer = client_at("10.0.0.10")
    for i in range(5):
        sign_in(balancer, "inspector", f"guess-{i}", HTTP_X_FORWARDED_FOR=ATTACKER)
    assert sign_in(balancer, "inspector", HTTP_X_FORWARDED_FOR=ATTACKER).status_code == 429
    r = sign_in(balancer, "inspector", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert r.status_code == 302
    event = SignInEvent.objects.filter(outcome="success").get()
    assert event.ip_address == "203.0.113.5"


def test_the_lockout_ends_after_the_cool_off_and_a_success_resets_the_count(people):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        attacker = client_at(ATTACKER)
        for i in range(5):
            sign_in(attacker, "inspector", f"guess-{i}")
        assert sign_in(attacker, "inspector").status_code == 429
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        # Still locked, and this refused try starts the cool-off again.
        assert sign_in(attacker, "inspector").status_code == 429
    with time_machine.travel(start + timedelta(minutes=14 + 16), tick=False):
        owner = client_at(ATTACKER)
        assert sign_in(owner, "inspector").status_code == 302 and signed_in(owner)
        # The success cleared the count: four more mistakes are only mistakes.
        again = client_at(ATTACKER)
        for i in range(4):
            assert sign_in(again, "inspector", f"typo-{i}").status_code == 200
        assert sign_in(again, "inspector").status_code == 302


def test_the_admin_login_is_the_same_guarded_page(people):
    r = client_at(ATTACKER).get("/admin/login/?next=/admin/")
    assert r.status_code == 302 and r["Location"].startswith("/login/?next=")
    r = client_at(ATTACKER).post("/admin/login/", {"username": "admin", "password": "x"})
    assert r.status_code == 302 and r["Location"].startswith("/login/")


# --- Two-factor -------------------------------------------------------------------------------


@pytest.fixture
def require_2fa(settings):
    settings.GRIDCITY_REQUIRE_2FA = True


def test_a_centre_user_must_enrol_then_pass_a_code_at_each_sign_in(people, require_2fa):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        staff = client_at("203.0.113.30")
        r = sign_in(staff, "dispatcher")
        assert r.status_code == 302 and r["Location"].startswith("/account/2fa/")
        # Signed in by password only: every page sends to the code page, the API sees no one.
        r = staff.get("/account/")
        assert r.status_code == 302 and r["Location"].startswith("/account/2fa/verify/")
        assert staff.get("/api/me").status_code == 401
        assert staff.get("/admin/").status_code == 302

        page = staff.get("/account/2fa/")
        assert page.status_code == 200 and "<svg" in page.content.decode()
        assert page["Cache-Control"] == "no-store"
        device = TOTPDevice.objects.get(user=people["dispatcher"], confirmed=False)
        r = staff.post("/account/2fa/", {"code": "000000"})
        assert r.status_code == 200 and "验证码不正确" in r.content.decode()
        # django-otp makes the next try wait a second after a wrong code.
        r = staff.post("/account/2fa/", {"code": code_for(device)})
        assert "秒后再试" in r.content.decode()
        clock.shift(2)
        r = staff.post("/account/2fa/", {"code": code_for(device)})
        assert r.status_code == 302
        assert staff.get("/account/").status_code == 200
        assert staff.get("/api/me").json()["username"] == "dispatcher"

    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        staff = client_at("203.0.113.30")
        r = sign_in(staff, "dispatcher")
        assert r["Location"].startswith("/account/2fa/verify/")
        # A session that owes its code cannot replace the authenticator with a thief's.
        r = staff.get("/account/2fa/")
        assert r.status_code == 302 and r["Location"].startswith("/account/2fa/verify/")
        r = staff.post("/account/2fa/verify/", {"code": "123456"})
        assert "验证码不正确" in r.content.decode()
        device.refresh_from_db()
        with time_machine.travel(start + timedelta(minutes=3), tick=False):
            r = staff.post("/account/2fa/verify/", {"code": code_for(device), "next": "/account/"})
            assert r.status_code == 302 and r["Location"] == "/account/"
            assert staff.get("/account/").status_code == 200

    outcomes = list(
        SignInEvent.objects.filter(user=people["dispatcher"])
        .order_by("at", "pk")
        .values_list("outcome", "two_factor")
    )
    assert outcomes == [
        ("password_ok", False),
        ("success", True),
        ("password_ok", False),
        ("otp_failed", False),
        ("success", True),
    ]
    assert AuditEntry.objects.filter(action="enable_two_factor").count() == 1


def test_a_grid_manager_signs_in_without_a_code_unless_enrolled(people, require_2fa):
    phone = client_at("203.0.113.40")
    r = sign_in(phone, "inspector")
    assert r.status_code == 302 and not r["Location"].startswith("/account/2fa/")
    assert signed_in(phone)


def test_an_admin_resets_a_lost_authenticator_with_an_audit_row(people, require_2fa):
    device = TOTPDevice.objects.create(user=people["dispatcher"], name="手机", confirmed=True)
    admin = client_at("203.0.113.50")
    admin.force_login(people["admin"])
    admin_device = TOTPDevice.objects.create(user=people["admin"], name="手机", confirmed=True)
    session = admin.session
    session["otp_device_id"] = admin_device.persistent_id
    session.save()
    r = admin.post(
        "/admin/accounts/user/",
        {"action": "reset_two_factor", "_selected_action": [people["dispatcher"].pk]},
    )
    assert r.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    entry = AuditEntry.objects.get(action="reset_two_factor")
    assert entry.actor == people["admin"] and entry.object_id == str(people["dispatcher"].pk)
    # Its key never shows in the admin.
    r = admin.get(f"/admin/otp_totp/totpdevice/{admin_device.pk}/change/")
    assert admin_device.key not in r.content.decode()


# --- Passwords --------------------------------------------------------------------------------


@pytest.mark.parametrize("weak", ["12345678", "password123", "inspector12", "1234567890"])
def test_the_password_page_refuses_a_weak_password(people, weak):
    me = client_at("203.0.113.60")
    me.force_login(people["inspector"])
    r = me.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": weak, "new_password2": weak},
    )
    assert r.status_code == 200
    assert 'class="error"' in r.content.decode()
    people["inspector"].refresh_from_db()
    assert people["inspector"].check_password(PASSWORD)


def test_the_password_page_changes_a_strong_password_and_ends_other_sessions(people):
    me, other = client_at("203.0.113.61"), client_at("203.0.113.62")
    me.force_login(people["inspector"])
    other.force_login(people["inspector"])
    assert "修改密码" in me.get("/account/").content.decode()
    new = "青石板路-Harbour-42"
    r = me.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert r.status_code == 302
    people["inspector"].refresh_from_db()
    assert people["inspector"].check_password(new)
    assert signed_in(me) and not signed_in(other)
    entry = AuditEntry.objects.get(action="change_password")
    assert people["inspector"].password not in str(entry.data) + entry.summary


def test_the_admin_refuses_a_weak_password_for_a_new_user(people):
    admin = client_at("203.0.113.63")
    admin.force_login(people["admin"])
    r = admin.post(
        "/admin/accounts/user/add/",
        {
            "username": "newclerk",
            "usable_password": "true",
            "password1": "password123",
            "password2": "password123",
            "role": Role.INTAKE,
        },
    )
    assert r.status_code == 200
    assert not people["admin"].__class__.objects.filter(username="newclerk").exists()


# --- API tokens -------------------------------------------------------------------------------


def test_an_expired_token_is_refused_with_a_message_saying_so(people):
    raw = do_create_token(people["inspector"], name="巡查手机")
    token = ApiToken.objects.get(name="巡查手机")
    assert token.expires_at - token.created_at == timedelta(days=90)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    with time_machine.travel(timezone.now() + timedelta(days=89)):
        assert Client().get("/api/me", **auth).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        r = Client().get("/api/me", **auth)
        assert r.status_code == 401
        assert r.json()["code"] == "token_expired" and "过期" in r.json()["error"]
        r = Client().get("/api/me", HTTP_X_API_TOKEN=raw)
        assert r.status_code == 401 and r.json()["code"] == "token_expired"
    # An unknown token says nothing about tokens that exist.
    r = Client().get("/api/me", HTTP_AUTHORIZATION="Bearer gc_not-a-token")
    assert r.status_code == 401 and "code" not in r.json()


def test_a_rotated_token_works_for_the_grace_period_then_stops(people):
    old_raw = do_create_token(people["inspector"], name="巡查手机")
    token = ApiToken.objects.get(name="巡查手机")
    new, new_raw = do_rotate_token(token, acting_user=people["inspector"])
    for raw in (old_raw, new_raw):
        assert Client().get("/api/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert Client().get("/api/me", HTTP_AUTHORIZATION=f"Bearer {old_raw}").status_code == 401
        assert Client().get("/api/me", HTTP_AUTHORIZATION=f"Bearer {new_raw}").status_code == 200
    assert AuditEntry.objects.filter(action="rotate_token", object_id=str(token.pk)).exists()


def test_a_user_rotates_and_revokes_their_own_tokens_from_the_account_page(people):
    raw = do_create_token(people["inspector"], name="巡查手机")
    token = ApiToken.objects.get(name="巡查手机")
    me = client_at("203.0.113.70")
    me.force_login(people["inspector"])
    page = me.get("/account/").content.decode()
    assert token.prefix in page and token.key_hash not in page
    # Another person cannot touch it.
    them = client_at("203.0.113.71")
    them.force_login(people["dispatcher"])
    assert them.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404

    r = me.post(f"/account/tokens/{token.pk}/rotate/")
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    new = ApiToken.objects.exclude(pk=token.pk).get(user=people["inspector"])
    body = r.content.decode()
    new_raw = body.split('<code class="raw-token">')[1].split("</code>")[0]
    assert new_raw.startswith(new.prefix)
    assert Client().get("/api/me", HTTP_AUTHORIZATION=f"Bearer {new_raw}").status_code == 200

    me.post(f"/account/tokens/{new.pk}/revoke/")
    assert Client().get("/api/me", HTTP_AUTHORIZATION=f"Bearer {new_raw}").status_code == 401
    # The old one is still in its grace period.
    assert Client().get("/api/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


# --- Sign-in history --------------------------------------------------------------------------


def test_the_sign_in_history_records_every_attempt(people):
    attacker, owner = client_at(ATTACKER), client_at("203.0.113.80")
    sign_in(attacker, "inspector", "wrong-1")
    sign_in(attacker, "nobody-here", "wrong-2")
    for i in range(4):
        sign_in(attacker, "inspector", f"wrong-{i + 3}")
    sign_in(owner, "inspector")

    rows = list(SignInEvent.objects.order_by("at", "pk"))
    assert [r.outcome for r in rows] == [
        "failed",
        "failed",
        "failed",
        "failed",
        "failed",
        "locked",
        "success",
    ]
    assert rows[0].user == people["inspector"] and rows[0].ip_address == ATTACKER
    assert rows[0].user_agent == "Mozilla/5.0 (probe)"
    assert rows[1].user is None and rows[1].username == "nobody-here"
    assert rows[-1].ip_address == "203.0.113.80" and rows[-1].two_factor is False

    # The owner sees the attempts on their account page, with the attacker's address.
    page = owner.get("/account/").content.decode()
    assert ATTACKER in page and "尝试过多，已拒绝" in page and "用户名或密码错误" in page
    assert "nobody-here" not in page

    # The administrators see them in a read-only list.
    admin = client_at("203.0.113.81")
    admin.force_login(people["admin"])
    listing = admin.get("/admin/accounts/signinevent/").content.decode()
    assert "nobody-here" in listing
    r = admin.post(f"/admin/accounts/signinevent/{rows[0].pk}/change/", {"outcome": "success"})
    assert r.status_code == 403
    rows[0].refresh_from_db()
    assert rows[0].outcome == "failed"
    assert admin.get("/admin/accounts/signinevent/add/").status_code == 403
