"""In headless Chromium (Debian's, driven by Playwright): what makers and staff do on the upload page, the job
page and the staff console, in German and English, on a phone (390 px), a tablet (820 px) and a 1920 px screen,
with a real site (simulated printers, monitor, worker and web as processes, PrusaSlicer slicing).

- copies: three copies are estimated, sliced and printed as one plate; the maker picks them up, which also
  confirms the printer's bed; the console keeps following across a restart of the web process;
- G-code: a MINI/PETG file chosen with PLA is offered for the MINI only, at the part's own size;
- the staff console: reject and cancel in the page's own dialog with a reason, collected, notes, history;
- the job and upload pages: someone else's job, colours in the page's language, a model too large for any
  printer, approval and cost;
- every page at every width: nothing scrolls sideways, and the German pages show no English (the catalog check
  of ``tests/web/test_i18n.py``).

Screenshots go to ``docs/screenshots/`` (upload, job, staff console, and their phone views).
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
from printfleet.testing.meshes import box_stl
from printfleet.testing.site import PROFILES, Site, make_site, wait_sim
from tests.web.test_i18n import english_in, visible_text

pytestmark = pytest.mark.integration

playwright_api = pytest.importorskip("playwright.sync_api")

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
MINI_PETG = REPO_ROOT / "tests" / "estimate" / "data" / "mini-petg-31x36.gcode"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery"
SIZES = {390: 844, 820: 1180, 1920: 1080}
FLEET = """site: {name: FabLab Schule, timezone: Europe/Berlin, locale: de, price_per_g: 0.05}
policy:
  approval: {materials: [PETG]}
printers:
  - {id: mk3s-1, name: "Prusa MK3S #1", driver: simulated, build_volume_mm: [250, 210, 210], material: PLA,
     colour: black, profile: %(mk3s)s}
  - {id: mk3s-2, name: "Prusa MK3S #2", driver: simulated, build_volume_mm: [250, 210, 210], material: PLA,
     colour: white, profile: %(mk3s)s}
  - {id: mini-1, name: "Prusa MINI #1", driver: simulated, build_volume_mm: [180, 180, 180], material: PETG,
     colour: orange, profile: %(mini)s}
""".replace("%(mk3s)s", str(PROFILES / "mk3s-0.20mm-pla.ini")).replace(
    "%(mini)s", str(PROFILES / "mini-0.30mm-petg.ini")
)
SIDEWAYS = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
#: the innermost elements reaching past the right edge of the screen (for the failure message)
TOO_WIDE = """() => [...document.querySelectorAll('body *')]
  .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .filter((el) => ![...el.children].some((c) => c.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5))
  .slice(0, 5).map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ': '
                             + (el.innerText || '').slice(0, 60))"""
#: script errors on any page (checked after each journey)
errors: list[str] = []


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, redis_factory, mqtt_broker: ManagedProcess
) -> Iterator[Site]:
    """Three simulated printers with sim, monitor, worker and web running as processes (their own Redis)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt install chromium)")
    redis_server = redis_factory(appendonly=False)
    site = make_site(tmp_path_factory.mktemp("browser") / "site", redis_server.url, mqtt_broker.url, FLEET)
    engine = db.make_engine(site.settings.effective_database_url)
    with db.session_scope(engine) as session:
        add_user(session, name="ada", password=PASSWORD, nickname="Ada L.")
        add_user(session, name="bo", password=PASSWORD, nickname="Bo")
        add_user(session, name="grace", role="staff", password=PASSWORD, display_name="Grace (staff)")
    engine.dispose()
    site.start("sim", "--speed", "120", "--temp-interval", "0.5")
    wait_sim(site)
    site.start("monitor")
    site.start("worker-0")
    site.web_port = free_port()  # type: ignore[attr-defined]
    start_web(site)
    yield site
    site.stop()
    redis_server.stop()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[object]:
    """One Chromium for the module; each journey opens contexts (a width and a language each)."""
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def start_web(site: Site) -> None:
    """Start (or restart) the web process on the site's port."""
    proc = site.start("web", "--port", str(site.web_port))  # type: ignore[attr-defined]
    wait_for_port(proc, "127.0.0.1", site.web_port, timeout_s=20)  # type: ignore[attr-defined]


def base_of(site: Site) -> str:
    return f"http://127.0.0.1:{site.web_port}"  # type: ignore[attr-defined]


def open_page(browser, site: Site, width: int, lang: str, user: str | None = None):
    """A new context at ``width`` in ``lang`` (the cookie the language switch sets), signed in as ``user``."""
    context = browser.new_context(viewport={"width": width, "height": SIZES[width]},
                                  locale="de-DE" if lang == "de" else "en-GB")  # fmt: skip
    page = context.new_page()
    page.on("pageerror", lambda err: errors.append(f"{page.url}: {err}"))
    base = base_of(site)
    page.goto(f"{base}/lang?set={lang}&next=/login")
    if user is not None:
        page.fill("input[name=name]", user)
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/(me|staff)$"))
    return page


def check_page(page, lang: str) -> None:
    """The page is no wider than the screen, a German page shows no English (the catalog's texts), and no
    script failed."""
    assert not errors, errors
    scroll, client = page.evaluate(SIDEWAYS)
    assert scroll <= client, (
        f"{page.url} at {client} px scrolls sideways ({scroll} px wide): {page.evaluate(TOO_WIDE)}"
    )
    if lang == "de":
        english = sorted(
            {f"{msgid!r} in {part!r}" for part in visible_text(page.content()) for msgid in english_in(part)}
        )
        assert not english, f"{page.url}: English on a German page: {english}"


def shoot(page, name: str, *, at: str | None = None) -> None:
    """A screenshot for the README: the whole page, or the screen scrolled to ``at`` (a selector)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.bring_to_front()
    if at is not None:
        page.locator(at).scroll_into_view_if_needed()
        page.evaluate(f"document.querySelector({at!r}).scrollIntoView()")
    page.wait_for_timeout(400)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=at is None)


def upload(page, path: Path, **options: str) -> None:
    """Choose a file and options on /me and upload it; wait for the estimate."""
    for name, value in options.items():
        if name == "copies":
            page.fill("#upload-form input[name=copies]", value)
        else:
            page.select_option(f"#upload-form select[name={name}]", value)
    page.set_input_files("#upload-form input[type=file]", str(path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#estimate:not([hidden])", timeout=30_000)


def queue_it(page) -> None:
    """Confirm the estimate shown; wait for the job page."""
    page.click("#confirm-job")
    page.wait_for_function(
        "location.pathname.startsWith('/me/jobs/') || !document.getElementById('upload-error').hidden"
    )
    assert "/me/jobs/" in page.url, page.inner_text("#upload-error")
    page.wait_for_load_state()


# --------------------------------------------------------------------------------------------------- copies


def test_copies_are_estimated_sliced_and_printed_as_one_plate(site: Site, browser, tmp_path: Path) -> None:
    model = box_stl(tmp_path / "clip.stl", 30, 20, 6)
    words = {
        "de": (
            "für 3 Kopien auf einer Platte",
            "3 Kopien auf einer Platte",
            "3, zusammen auf einer Platte gedruckt",
        ),
        "en": ("for 3 copies on one plate", "3 copies on one plate", "3, printed together on one plate"),
    }
    job_ids = []
    for lang, width in (("en", 820), ("de", 1920)):
        page = open_page(browser, site, width, lang, "ada")
        upload(page, model, material="PLA")
        single = page.inner_text("#estimate [data-k=time]")
        assert re.fullmatch(r"\d+ min|\d+ h \d\d min", single), single
        assert page.is_hidden("#estimate [data-k=plate]")
        page.fill("#upload-form input[name=copies]", "3")
        page.press("#upload-form input[name=copies]", "Tab")
        for_three, plate, copies_row = words[lang]
        page.wait_for_function(
            f"document.querySelector('#estimate [data-k=time]').innerText.includes({for_three!r})"
        )
        assert page.inner_text("#estimate [data-k=plate]").startswith(plate)
        shown = page.inner_text("#estimate [data-k=time]").replace(for_three, "").strip()
        assert shown != single
        assert "Prusa MK3S #1, Prusa MK3S #2" == page.inner_text("#estimate [data-k=fits]")
        assert "EUR" in page.inner_text("#estimate [data-k=cost]")
        check_page(page, lang)
        if lang == "de":
            shoot(page, "upload.png")
        queue_it(page)
        assert page.inner_text("[data-k=copies]") == copies_row
        assert page.inner_text("[data-k=time]") == shown  # the job says what the estimate said
        check_page(page, lang)
        job_ids.append(int(page.url.rsplit("/", 1)[1]))
        page.context.close()
    first = site.job(job_ids[0])
    assert first.copies == 3 and first.bbox_mm[0] > 60  # the plate: three copies side by side

    # the plate is what the printer prints; staff follow it across a restart of the web process
    staff = open_page(browser, site, 1920, "de", "grace")
    printing = site.wait_status(job_ids[0], JobStatus.PRINTING, timeout_s=120)
    staff.reload()
    staff.wait_for_selector("#live-state:not(:empty):not(.down)")
    site.kill("web")
    staff.wait_for_selector("#live-state.down", timeout=15_000)
    start_web(site)
    staff.wait_for_selector("#live-state:not(.down)", timeout=30_000)
    done = site.wait_status(job_ids[0], JobStatus.DONE, timeout_s=120)
    assert done.printer_id == printing.printer_id and site.printer(done.printer_id).bed_clear is False
    staff.context.close()

    # the maker picks it up from the job page: the bed of that printer is confirmed clear too
    maker = open_page(browser, site, 390, "de", "ada")
    maker.goto(f"{base_of(site)}/me/jobs/{job_ids[0]}")
    printer_name = {"mk3s-1": "Prusa MK3S #1", "mk3s-2": "Prusa MK3S #2"}[done.printer_id]
    assert printer_name in maker.inner_text("[data-k=clears-bed]")
    check_page(maker, "de")
    shoot(maker, "job-phone.png")
    maker.click("button:has-text('Ich habe ihn abgeholt')")
    maker.wait_for_selector(".badge.s-collected")
    assert site.printer(done.printer_id).bed_clear is True
    maker.context.close()


# --------------------------------------------------------------------------------------------------- G-code


def test_a_mini_petg_gcode_is_offered_for_the_mini_at_its_own_size(site: Site, browser) -> None:
    expected = {
        "de": ("MINI, PETG, 0,4-mm-Düse, Druckbett 180 × 180 mm", "Drucke aus PETG"),
        "en": ("MINI, PETG, 0.4 mm nozzle, bed 180 × 180 mm", "PETG prints need staff approval"),
    }
    for lang, width in (("de", 390), ("en", 1920)):
        page = open_page(browser, site, width, lang, "ada")
        upload(page, MINI_PETG, material="PLA")  # the maker left PLA chosen
        assert (
            page.input_value("#upload-form select[name=material]") == "PETG"
        )  # what the file was sliced for
        assert page.inner_text("#estimate [data-k=fits]") == "Prusa MINI #1"
        assert page.inner_text("#estimate [data-k=size]") == "31 × 36 × 1 mm"  # the part, not its intro line
        sliced_for, approval = expected[lang]
        assert page.inner_text("#estimate [data-k=sliced]") == sliced_for
        assert approval in page.inner_text("#estimate [data-k=approval]")
        check_page(page, lang)
        if lang == "de":
            shoot(page, "upload-phone.png")
        queue_it(page)
        assert page.inner_text("[data-k=fits]") == "Prusa MINI #1"
        check_page(page, lang)
        page.context.close()


# --------------------------------------------------------------------------------------------------- staff


def test_the_staff_console_rejects_cancels_and_collects_with_reasons(
    site: Site, browser, tmp_path: Path
) -> None:
    model = box_stl(tmp_path / "halter.stl", 20, 20, 5)
    texts = {
        "de": {
            "reject": "Ablehnen",
            "title": "Auftrag {code} ablehnen",
            "required": "Bitte gib einen Grund an.",
            "cancel": "Abbrechen",
            "collected": "Abgeholt",
            "why": "Datei zu fein für 0,4 mm",
            "stop": "Drucker wird gewartet",
        },
        "en": {
            "reject": "Reject",
            "title": "Reject job {code}",
            "required": "Please give a reason.",
            "cancel": "Cancel",
            "collected": "Collected",
            "why": "walls too thin for 0.4 mm",
            "stop": "printer needs service",
        },
    }
    for lang, width in (("de", 390), ("en", 820), ("de", 1920)):
        words = texts[lang]
        waiting = site.submit(model, user="bo", material="PLA", note="für den Robotik-Kurs",
                              needs_approval="erster Druck")  # fmt: skip
        queued = site.submit(
            model, user="bo", material="PETG", colour="red", note="rot, bitte"
        )  # waits: no red
        done = site.submit(model, user="ada", material="ABS")  # no ABS here: it waits until it is set done
        with site.engine.begin() as conn:  # a print that finished and waits for pickup
            conn.exec_driver_sql(
                "UPDATE jobs SET status = 'done', printer_id = 'mk3s-2', finished_at = created_at, "
                "started_at = datetime(created_at, '-1 day') WHERE id = ?",
                (done,),
            )
        codes = {job_id: site.job(job_id).code for job_id in (waiting, queued, done)}
        page = open_page(browser, site, width, lang, "grace")
        page.reload()
        inbox = page.locator(f'tr[data-job="{waiting}"]')
        assert "für den Robotik-Kurs" in inbox.inner_text()  # the note column
        assert inbox.locator("button", has_text=words["cancel"]).count() == 0  # only what applies
        row = page.locator(f'tr[data-job="{queued}"]')
        assert "rot, bitte" in row.inner_text() and row.locator("button").count() == 1
        check_page(page, lang)
        if (lang, width) == ("de", 1920):
            shoot(page, "staff.png")
        if width == 390:
            shoot(page, "staff-phone.png", at="#inbox")

        # reject: the page's own dialog, in the page's language, insists on a reason
        inbox.locator("button", has_text=words["reject"]).click()
        dialog = page.locator("dialog#pf-ask")
        dialog.wait_for(state="visible")
        assert dialog.locator("h2").inner_text() == words["title"].format(code=codes[waiting])
        check_page(page, lang)
        dialog.locator("button[type=submit]").click()
        assert dialog.locator("[data-k=error]").inner_text() == words["required"]
        dialog.locator("textarea").fill(words["why"])
        dialog.locator("button[type=submit]").click()
        page.wait_for_selector(f'tr[data-job="{waiting}"]', state="detached")
        assert site.job(waiting).status is JobStatus.REJECTED

        # cancel with a reason; collected
        page.locator(f'tr[data-job="{queued}"] button', has_text=words["cancel"]).click()
        dialog.locator("textarea").fill(words["stop"])
        dialog.locator("button[type=submit]").click()
        page.wait_for_selector(f'tr[data-job="{queued}"]', state="detached")
        page.locator(f'tr[data-job="{done}"] button', has_text=words["collected"]).click()
        page.wait_for_selector(f'tr[data-job="{done}"]', state="detached")
        assert site.job(queued).status is JobStatus.CANCELLED and site.job(done).status is JobStatus.COLLECTED
        history = page.inner_text("#history")
        for said in (words["why"], words["stop"], codes[waiting], "grace"):
            assert said in history
        assert "system:" not in history
        check_page(page, lang)
        page.context.close()


# ------------------------------------------------------------------------------------------ job and upload pages


def test_the_job_and_upload_pages_in_the_makers_language(site: Site, browser, tmp_path: Path) -> None:
    theirs = site.submit(box_stl(tmp_path / "geheim.stl", 10), user="bo", material="PLA")
    huge = box_stl(tmp_path / "huge.stl", 300, 40, 20)
    texts = {
        "de": ("Abmelden (ada)", "Anmelden", "schwarz", "Dieses Modell ist 300 × 40 × 20 mm groß"),
        "en": ("Sign out (ada)", "Sign in", "black", "This model is 300 × 40 × 20 mm"),
    }
    for lang, width in (("de", 820), ("en", 390), ("de", 1920)):
        signed_in, sign_in, black, too_large = texts[lang]
        page = open_page(browser, site, width, lang, "ada")
        # the material defaults to the fleet's commonest; colours are what is loaded, in the page's language
        assert page.input_value("#upload-form select[name=material]") == "PLA"
        colours = page.locator("#upload-form select[name=colour] option").all_inner_texts()
        assert black in colours and len(colours) == 3
        page.select_option("#upload-form select[name=material]", "PETG")
        assert "orange" in page.locator("#upload-form select[name=colour] option").all_inner_texts()
        # a model too large for every printer: the reason, and nothing to queue
        upload(page, huge, material="PLA")
        assert page.inner_text("#estimate [data-k=nofit]").startswith(too_large)
        assert page.is_hidden("#confirm-job")
        check_page(page, lang)
        # someone else's job: an error page in the page's language, and the header knows who is signed in
        response = page.goto(f"{base_of(site)}/me/jobs/{theirs}")
        assert response.status == 404
        header = page.inner_text("header.top")
        assert signed_in in header and sign_in not in header.replace(signed_in, "")
        assert "geheim" not in page.content()
        check_page(page, lang)
        page.context.close()


# --------------------------------------------------------------------------------------------------- widths


def test_no_page_scrolls_sideways_and_german_pages_are_german(site: Site, browser, tmp_path: Path) -> None:
    long_name = tmp_path / "Zahnrad_mit_einem_sehr_langen_Dateinamen_ohne_Leerzeichen_v12_final_final.stl"
    mine = site.submit(box_stl(long_name, 10), user="ada", material="PLA", note="x" * 120)
    code = site.job(mine).code
    base = base_of(site)
    public = ["/", "/login", "/j", f"/j/{code}", "/wall"]
    signed_in = {"ada": ["/me", f"/me/jobs/{mine}"], "grace": ["/staff", f"/me/jobs/{mine}"]}
    for lang in ("de", "en"):
        for width in SIZES:
            page = open_page(browser, site, width, lang)
            for path in public:
                page.goto(base + path)
                check_page(page, lang)
            page.context.close()
            for user, paths in signed_in.items():
                page = open_page(browser, site, width, lang, user)
                for path in paths:
                    page.goto(base + path)
                    check_page(page, lang)
                page.context.close()
