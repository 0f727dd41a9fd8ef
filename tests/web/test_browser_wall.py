"""In headless Chromium: the wall and the staff console's printer cards, in German and English, on a phone (390 px),
a tablet (820 px) and the wall's 1920x1080 screen, with a real site (simulated printers, monitor, worker, web).

A long print runs on an MK3S and a short one has finished on the MINI (its bed is not clear). The cards must fit
(the status inside its card, no page wider than the screen), change live when staff confirm the bed is clear (no
reload), keep a half-typed cancel reason while the card updates, and ``/j/{code}`` must follow the progress.
Screenshots: ``docs/screenshots/wall.png`` (1920x1080) and ``docs/screenshots/wall-phone.png`` (390 px).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from printfleet import db
from printfleet.accounts import add_user
from printfleet.models import JobStatus
from printfleet.services import ManagedProcess, free_port, wait_for_port
from printfleet.testing.site import PROFILES, Site, make_site, wait_sim

pytestmark = pytest.mark.integration

playwright_api = pytest.importorskip("playwright.sync_api")

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"
WIDTHS = {390: 844, 820: 1180, 1920: 1080}
MK3S, MINI = PROFILES / "mk3s-0.20mm-pla.ini", PROFILES / "mini-0.30mm-petg.ini"
FLEET = f"""site: {{name: FabLab Schule, timezone: Europe/Berlin, locale: de, public_url: "https://druck.example.org"}}
printers:
  - {{id: mk3s-1, name: "Prusa MK3S #1", driver: simulated, build_volume_mm: [250, 210, 210], material: PLA,
     colour: black, profile: {MK3S}}}
  - {{id: mk3s-2, name: "Prusa MK3S #2", driver: simulated, build_volume_mm: [250, 210, 210], material: PLA,
     colour: white, profile: {MK3S}}}
  - {{id: mini-1, name: "Prusa MINI #1", driver: simulated, build_volume_mm: [180, 180, 180], material: PETG,
     colour: orange, profile: {MINI}}}
"""


def gcode(path: Path, minutes: int, nozzle: int) -> Path:
    """A G-code file the simulated printers print for ``minutes`` (simulated time)."""
    path.write_text(f"; estimated printing time (normal mode) = {minutes // 60}h {minutes % 60}m 0s\n"
                    f"M104 S{nozzle}\nM140 S60\nG28\nG1 X10 Y10 F3000\nG1 X40 Y10 E2\n")
    return path


@pytest.fixture()
def site(tmp_path: Path, redis_url: str, mqtt_broker: ManagedProcess) -> Iterator[Site]:
    """Three simulated printers with sim, monitor, worker and web running as processes."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt install chromium)")
    site = make_site(tmp_path / "site", redis_url, mqtt_broker.url, FLEET)
    engine = db.make_engine(site.settings.effective_database_url)
    with db.session_scope(engine) as session:
        add_user(session, name="ada", password=PASSWORD, nickname="Ada L.")
        add_user(session, name="grace", role="staff", password=PASSWORD, display_name="Grace (staff)")
    engine.dispose()
    site.start("sim", "--speed", "40", "--temp-interval", "0.5")
    wait_sim(site)
    site.start("monitor")
    site.start("worker-0")
    site.web_port = free_port()  # type: ignore[attr-defined]
    proc = site.start("web", "--port", str(site.web_port))  # type: ignore[attr-defined]
    wait_for_port(proc, "127.0.0.1", site.web_port, timeout_s=20)  # type: ignore[attr-defined]
    yield site
    site.stop()


CARD_FACTS = """() => [...document.querySelectorAll('[data-printer]')].map((card) => {
  const c = card.getBoundingClientRect(), b = card.querySelector('[data-k=status]').getBoundingClientRect();
  return {id: card.dataset.printer, state: card.dataset.state, status: card.querySelector('[data-k=status]').innerText,
          inside: b.left >= c.left - 0.5 && b.right <= c.right + 0.5 && b.top >= c.top - 0.5 && b.bottom <= c.bottom + 0.5};
})"""
SIDEWAYS = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def check_fits(page, what: str) -> list[dict]:
    """Every card's status inside its card; the page no wider than the screen."""
    scroll, client = page.evaluate(SIDEWAYS)
    assert scroll <= client, f"{what}: scrolls sideways ({scroll} > {client})"
    cards = page.evaluate(CARD_FACTS)
    assert len(cards) == 3, what
    assert all(card["inside"] for card in cards), f"{what}: a status sticks out of its card: {cards}"
    return cards


def sign_in(browser, base: str, width: int, lang: str):
    page = browser.new_context(viewport={"width": width, "height": WIDTHS[width]}, locale="de-DE").new_page()
    page.goto(f"{base}/lang?set={lang}&next=/login")
    page.fill("input[name=name]", "grace")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(base + "/staff")
    return page


def test_wall_and_staff_cards_at_three_widths_in_two_languages_and_live(site: Site, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{site.web_port}"  # type: ignore[attr-defined]
    long_job = site.submit(gcode(tmp_path / "halter.gcode", 120, 215), user="ada", material="PLA",
                           est_print_time_s=7200.0)
    short_job = site.submit(gcode(tmp_path / "clip.gcode", 1, 240), user="ada", material="PETG",
                            est_print_time_s=60.0)
    site.wait_status(short_job, JobStatus.DONE, timeout_s=90)
    printing = site.wait_status(long_job, JobStatus.PRINTING, timeout_s=90)
    assert site.printer("mini-1").bed_clear is False  # the finished print is still on it
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    words = {"de": ("druckt", "Druckbett nicht frei", "frei"), "en": ("printing", "bed not clear", "free")}
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for lang, (printing_word, not_clear, _free) in words.items():
                for width, height in WIDTHS.items():
                    wall = browser.new_context(viewport={"width": width, "height": height}).new_page()
                    wall.goto(f"{base}/wall?lang={lang}")
                    wall.wait_for_selector("#live-state:not(:empty):not(.down)")
                    wall.wait_for_selector(f'[data-printer="{printing.printer_id}"][data-state="printing"]')
                    cards = {card["id"]: card for card in check_fits(wall, f"wall {lang} {width}")}
                    assert cards[printing.printer_id]["status"] == printing_word
                    assert cards["mini-1"]["status"] == not_clear
                    text = wall.inner_text("body")
                    assert printing.code in text and "Ada L." in text
                    assert "halter" not in wall.content() and "grace" not in text  # no file or user names
                    qr = wall.inner_text(".follow .hint")
                    assert "https://druck.example.org/j" in qr  # the site's address, not the one this page used
                    if lang == "de" and width in (1920, 390):
                        wall.bring_to_front()
                        wall.wait_for_timeout(700)  # the progress bar's transition
                        name = "wall.png" if width == 1920 else "wall-phone.png"
                        wall.screenshot(path=str(SCREENSHOTS / name), full_page=width == 390)
                    wall.context.close()
                    staff = sign_in(browser, base, width, lang)
                    staff.wait_for_selector(f'[data-printer="{printing.printer_id}"][data-state="printing"]')
                    cards = {card["id"]: card for card in check_fits(staff, f"staff {lang} {width}")}
                    assert cards["mini-1"]["status"] == not_clear
                    staff.context.close()

            # staff confirm the bed: the wall (English) and the console (German) change without a reload
            wall = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
            wall.goto(f"{base}/wall?lang=en")
            staff = sign_in(browser, base, 820, "de")
            for page in (wall, staff):
                page.wait_for_selector("#live-state:not(:empty):not(.down)")
                page.evaluate("window.pfNoReload = 1")
            mini = staff.locator('[data-printer="mini-1"]')
            assert mini.locator("[data-k=status]").inner_text() == "Druckbett nicht frei"
            mini.locator('button[data-card-action="bed_clear"]').click()
            wall.wait_for_selector('[data-printer="mini-1"][data-state="free"]', timeout=10_000)
            staff.wait_for_selector('[data-printer="mini-1"][data-state="free"]', timeout=10_000)
            assert wall.inner_text('[data-printer="mini-1"] [data-k=status]') == "free"
            assert staff.inner_text('[data-printer="mini-1"] [data-k=status]') == "frei"
            assert staff.locator('[data-printer="mini-1"] [data-card-action="bed_clear"]').count() == 0
            assert wall.evaluate("window.pfNoReload") == 1 and staff.evaluate("window.pfNoReload") == 1

            # a cancel reason being typed survives the card's updates; closing the form shows the newest card
            card = staff.locator(f'[data-printer="{printing.printer_id}"]')
            assert card.locator('[data-card-action="pause"]').count() == 1
            assert card.locator('[data-card-action="resume"]').count() == 0
            card.locator("details.pc-ask summary", has_text="Druck abbrechen").click()
            reason = card.locator('form[data-card-action="cancel"] input[name=reason]')
            reason.fill("Düse verstopft")
            before = card.locator(".pct").inner_text()
            staff.wait_for_function(
                f"document.querySelector('[data-printer=\"{printing.printer_id}\"]').pendingHtml", timeout=30_000)
            assert reason.input_value() == "Düse verstopft" and card.locator(".pct").inner_text() == before
            card.locator("details.pc-ask[open] summary").click()  # closed without sending: the card catches up
            staff.wait_for_function(
                f"document.querySelector('[data-printer=\"{printing.printer_id}\"] .pct').innerText !== {before!r}")
            assert site.job(long_job).status is JobStatus.PRINTING

            # /j/{code} follows the progress live
            public = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            public.goto(f"{base}/j/{printing.code}?lang=de")
            first = int(re.sub(r"\D", "", public.inner_text(".job-printer .pct")))
            public.wait_for_function(
                f"parseInt(document.querySelector('.job-printer .pct').innerText) > {first}", timeout=30_000)
            scroll, client = public.evaluate(SIDEWAYS)
            assert scroll <= client
        finally:
            browser.close()
