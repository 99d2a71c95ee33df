"""Browser helpers for the page tests; the `browser` fixture itself is in the root conftest.py
(one Chromium per test session, shared by every app's browser tests).

Screenshots go to ./screenshots/ (not committed): look at them."""

from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[3] / "screenshots"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1920, "height": 1080}


def new_page(browser, *, phone: bool = False, **context_args):
    viewport = PHONE if phone else DESKTOP
    context = browser.new_context(
        viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai", **context_args
    )
    context.set_default_timeout(15_000)
    return context.new_page()


def login(page, live_server, username: str, password: str = "demo12345") -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
