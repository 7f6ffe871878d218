"""What the browser tests share: a headless chromium page (the `browser` fixture, in conftest.py),
and the steps a person takes on it, counted and photographed."""

import os
import shutil

from django.conf import settings

from tests.utils import totp_code_from_secret

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = settings.VAR_DIR / "screenshots"
#: The password of the staff the browser tests make.
PASSWORD = "a long password 42"
# A person reading in Thunderbird: neither a proxy nor a prefetch.
READER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0"


# What is wider than its box at this width: the page itself, or a box that scrolls or clips
# sideways (text cut with an ellipsis on purpose aside).
_OVERFLOWING = """() => {
  const root = document.documentElement;
  const wide = root.scrollWidth > root.clientWidth ? ["the page"] : [];
  for (const box of document.querySelectorAll("#main *")) {
    const style = getComputedStyle(box);
    const clips = ["auto", "scroll", "hidden"].includes(style.overflowX);
    // Ellipses cut text on purpose; simplebar's own boxes scroll the sidebar.
    if (!clips || style.textOverflow === "ellipsis" || box.className.includes("simplebar")) continue;
    if (box.clientWidth > 0 && box.scrollWidth > box.clientWidth + 1) {
      wide.push(box.tagName + "." + box.className + " in #" + (box.closest("[id]") || {}).id);
    }
  }
  return wide;
}"""


def click(page, selector: str) -> None:
    """Click as the person would, counting it: the flow must take few clicks."""
    page.click(selector)
    page.clicks += 1


def shot(page, name: str) -> None:
    """Save a screenshot of the page, and note anything on it wider than a 1280-pixel screen."""
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if wide := page.evaluate(_OVERFLOWING):
        page.overflowing.append(f"{name}: {wide[:4]}")


def log_in(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("[type=submit]")


def enrol(page, shots: str = "") -> str:
    """Enrol an authenticator app on the page the password led to, as a person with a phone does:
    read the key (the QR code holds the same), type the app's code; return the secret."""
    page.wait_for_selector("#second-factor-qr svg")
    secret = page.inner_text("#second-factor-secret")
    if shots:
        shot(page, f"{shots}-second-factor-enrol")
    page.fill("#id_token", totp_code_from_secret(secret))
    page.click("#second-factor-form input[type=submit]")
    page.wait_for_selector("#second-factor-backup-codes")
    if shots:
        shot(page, f"{shots}-second-factor-backup-codes")
    page.click("text=Continue to the admin")
    return secret


def marketer_logged_in(page, url: str) -> None:
    """Make a member of the Marketers role (not a superuser: the flows are theirs), log them in
    with their password and a newly enrolled second factor, and wait for the home page."""
    from django.contrib.auth.models import Group, User

    marketer = User.objects.create_user("marketer", "marketer@campanile.test", PASSWORD, is_staff=True)
    marketer.groups.add(Group.objects.get(name="Marketers"))
    log_in(page, url, "marketer", PASSWORD)
    enrol(page)
    page.wait_for_selector("#campanile-home")
