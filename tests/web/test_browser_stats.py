"""In headless Chromium: the statistics page and a maker's usage on a generated week of the shipped fleet, at
390, 820 and 1920 px, in German and English; no page scrolls sideways. The 1920 px staff page goes to
``docs/screenshots/stats.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from printfleet import db
from printfleet.services import ManagedProcess, free_port, wait_for_port
from printfleet.testing.history import generate_week
from printfleet.testing.site import Site, make_site

pytestmark = pytest.mark.integration

playwright_api = pytest.importorskip("playwright.sync_api")

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO_ROOT / "configs" / "printers.yaml"
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"
WIDTHS = (390, 820, 1920)


@pytest.fixture()
def site(tmp_path: Path, redis_url: str, mqtt_broker: ManagedProcess) -> Iterator[Site]:
    """The shipped fleet with a week of history; only the web process runs."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt install chromium)")
    text = SHIPPED_CONFIG.read_text().replace("profile: profiles/", f"profile: {SHIPPED_CONFIG.parent}/profiles/")
    site = make_site(tmp_path / "site", redis_url, mqtt_broker.url, text)
    engine = db.make_engine(site.settings.effective_database_url)
    generate_week(engine, site.client, site.fleet, password=PASSWORD)
    engine.dispose()
    port = free_port()
    proc = site.start("web", "--port", str(port))
    wait_for_port(proc, "127.0.0.1", port, timeout_s=20)
    site.base = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield site
    site.stop()


def _sign_in(page, base: str, name: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state()


def _no_sideways_scroll(page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways at {page.viewport_size}: {widths}"


def test_statistics_pages_fit_every_width(site: Site) -> None:
    base = site.base  # type: ignore[attr-defined]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for width in WIDTHS:
                for lang, words in (("de", ("Statistik", "Auslastung", "Mitglieder")),
                                    ("en", ("Statistics", "Utilisation", "Members"))):
                    context = browser.new_context(viewport={"width": width, "height": 1000})
                    page = context.new_page()
                    page.goto(base + f"/lang?set={lang}&next=/login")
                    _sign_in(page, base, "sam")
                    page.goto(base + "/staff/stats")
                    assert page.locator("html").get_attribute("lang") == lang
                    text = page.inner_text("main")
                    for word in words:
                        assert word in text, (lang, word)
                    # the plots are drawn (server-side SVG) and the numbers are in tables too
                    assert page.locator(".chart-svg svg").count() >= 5
                    assert page.locator("#members tbody tr").count() == 4
                    assert "dana" in page.inner_text("#members")
                    hours = page.inner_text("#totals .tiles li:first-child .v")
                    assert re.fullmatch(r"[\d.,]+ h", hours) and hours != "0 h", hours
                    _no_sideways_scroll(page)
                    if width == 1920 and lang == "de":
                        page.screenshot(path=str(SCREENSHOTS / "stats.png"), full_page=True)
                    # the CSV link downloads the table the page shows
                    href = page.get_attribute("#members a.csv", "href")
                    assert href is not None and href.startswith("/api/stats/members.csv?from=")
                    csv_text = page.request.get(base + href).text()
                    assert csv_text.splitlines()[0].startswith("user_id,member,")

                    maker = browser.new_context(viewport={"width": width, "height": 1000}).new_page()
                    maker.goto(base + f"/lang?set={lang}&next=/login")
                    _sign_in(maker, base, "ada")
                    maker.goto(base + "/me")
                    maker.click("a[href='/me/usage']")
                    maker.wait_for_url(base + "/me/usage")
                    assert maker.locator("#members").count() == 0  # a maker sees only their own usage
                    assert maker.locator(".chart-svg svg").count() >= 3
                    assert "bo" not in maker.inner_text("main").split()
                    _no_sideways_scroll(maker)
                    maker.context.close()
                    context.close()
        finally:
            browser.close()
