"""In headless Chromium (Debian's, driven by Playwright): sign in, upload an STL, see the estimate, queue it,
and watch the wall as a simulated printer prints it, including across a restart of the web process.

Every part runs as its own process (simulated printers, monitor, worker, web). Screenshots of the three
pages go to ``docs/screenshots/``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from printfleet import db
from printfleet.accounts import add_user
from printfleet.services import ManagedProcess, free_port, wait_for_port
from printfleet.testing.site import Site, fleet_yaml, make_site, wait_sim

pytestmark = pytest.mark.integration

playwright_api = pytest.importorskip("playwright.sync_api")

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"


def bracket_stl(path: Path) -> Path:
    """An L-shaped bracket (two boxes) as a binary STL, 40 x 30 x 20 mm."""
    def box(x0: float, y0: float, z0: float, x1: float, y1: float, z1: float) -> list[tuple[tuple[float, ...], ...]]:
        v = [(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0), (x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)]
        faces = [(0, 2, 1), (0, 3, 2), (4, 5, 6), (4, 6, 7), (0, 1, 5), (0, 5, 4),
                 (1, 2, 6), (1, 6, 5), (2, 3, 7), (2, 7, 6), (3, 0, 4), (3, 4, 7)]
        return [tuple(v[i] for i in f) for f in faces]

    triangles = box(0, 0, 0, 40, 30, 4) + box(0, 0, 4, 6, 30, 20)
    data = bytearray(b"printfleet bracket".ljust(80, b" ")) + struct.pack("<I", len(triangles))
    for tri in triangles:
        data += struct.pack("<3f", 0, 0, 0) + b"".join(struct.pack("<3f", *p) for p in tri) + b"\0\0"
    path.write_bytes(bytes(data))
    return path


@pytest.fixture()
def site(tmp_path: Path, redis_url: str, mqtt_broker: ManagedProcess) -> Iterator[Site]:
    """Two simulated printers with sim, monitor, worker and web running as processes."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt install chromium)")
    text = fleet_yaml({"mk3s-1": "mk3s", "mini-1": "mini"}).replace("site: {name: Test lab,", "site: {name: FabLab Schule,")
    site = make_site(tmp_path / "site", redis_url, mqtt_broker.url, text)
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
    start_web(site)
    yield site
    site.stop()


def start_web(site: Site) -> None:
    """Start (or restart) the web process on the site's port."""
    proc = site.start("web", "--port", str(site.web_port))  # type: ignore[attr-defined]
    wait_for_port(proc, "127.0.0.1", site.web_port, timeout_s=20)  # type: ignore[attr-defined]


def test_upload_estimate_queue_and_watch_the_wall(site: Site, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{site.web_port}"  # type: ignore[attr-defined]
    model = bracket_stl(tmp_path / "wall-bracket.stl")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            maker = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
            page = maker.new_page()
            page.goto(base + "/")
            assert page.locator("html").get_attribute("lang") == "de"  # the site's language by default
            page.goto(base + "/lang?set=en&next=/login")
            page.fill("input[name=name]", "ada")
            page.fill("input[name=password]", PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_url(base + "/me")

            page.set_input_files("#upload-form input[type=file]", str(model))
            page.select_option("#upload-form select[name=material]", "PLA")
            page.fill("#upload-form input[name=note]", "for the robotics class")
            page.click("#upload-form button[type=submit]")
            page.wait_for_selector("#estimate:not([hidden])", timeout=30_000)
            time_text = page.inner_text("#estimate [data-k=time]")
            assert re.search(r"\d+ (h|min)", time_text), time_text
            assert "g" in page.inner_text("#estimate [data-k=grams]")
            assert page.inner_text("#estimate [data-k=fits]") == "mk3s-1"
            page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
            page.screenshot(path=str(SCREENSHOTS / "upload.png"), full_page=True)

            page.click("#confirm-job")
            page.wait_for_url(re.compile(r".*/me/jobs/\d+$"))
            code = page.inner_text("h1 code").strip()
            assert re.fullmatch(r"[A-Z2-9]{5}", code)

            wall = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="en-GB").new_page()
            wall.goto(base + "/wall?lang=en")
            card = wall.locator('[data-printer="mk3s-1"]')
            # the job appears (queue or printer card), then the simulated printer prints it
            wall.wait_for_function(f"document.body.innerText.includes('{code}')", timeout=30_000)
            card.locator("[data-k=job]", has_text=code).wait_for(timeout=90_000)
            wall.wait_for_function(
                "document.querySelector('[data-printer=\"mk3s-1\"]').classList.contains('st-printing')"
                " && parseFloat(document.querySelector('[data-printer=\"mk3s-1\"] [data-k=bar]').style.width) > 0",
                timeout=90_000,
            )
            assert "Ada L." in card.inner_text() and "ada" not in wall.content().replace("Ada L.", "")
            # a second job waits in the queue (one PLA printer) with an estimated start
            second = site.submit(bracket_stl(tmp_path / "second.stl"), user="ada", material="PLA",
                                 est_print_time_s=1800.0)
            second_code = site.job(second).code
            wall.locator("#queue li", has_text=second_code).wait_for(timeout=20_000)
            wall.wait_for_function(
                "parseFloat(document.querySelector('[data-printer=\"mk3s-1\"] [data-k=bar]').style.width) > 8",
                timeout=60_000,
            )
            wall.bring_to_front()  # background pages do not paint (nor run the progress bar's transition)
            wall.wait_for_timeout(1000)
            wall.screenshot(path=str(SCREENSHOTS / "wall.png"))

            staff = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="de-DE").new_page()
            staff.goto(base + "/login")
            staff.fill("input[name=name]", "grace")
            staff.fill("input[name=password]", PASSWORD)
            staff.click("#login-form button[type=submit]")
            staff.wait_for_url(base + "/staff")
            assert "wall-bracket.stl" in staff.content()
            staff.wait_for_selector('[data-printer="mk3s-1"].st-printing')
            staff.bring_to_front()
            staff.wait_for_timeout(1000)
            staff.screenshot(path=str(SCREENSHOTS / "staff.png"), full_page=True)

            # the web process restarts mid-print; the open wall page reconnects by itself and keeps updating
            site.kill("web")
            wall.wait_for_selector("#live-state.down", timeout=15_000)
            start_web(site)
            wall.wait_for_selector("#live-state:not(.down)", timeout=30_000)
            wall.locator("#pickup li", has_text=code).wait_for(timeout=120_000)
            assert "Ada L." in wall.inner_text("#pickup")
        finally:
            browser.close()
