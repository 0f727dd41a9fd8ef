"""No English on a German page: every text has its German, every code its words, and German pages rendered with
realistic data (jobs in every status, every event in the history, errors) show no English.

The English fallback of gettext hides a missing German message at run time, so these tests look for English
themselves: in the catalog (empty, fuzzy, or the same as the English where German differs), in the codes
(events, the scheduler's reasons, errors), and in what the German pages and API answers show.
"""

from __future__ import annotations

import ast
import datetime as dt
import html.parser
import importlib
import json
import pkgutil
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import select

import printfleet
import printfleet.web.routes
from printfleet import db
from printfleet.errors import UserError
from printfleet.models import FileKind, Job, JobStatus, Printer, PrinterEventKind, User, utcnow
from printfleet.queue.history import record_printer_event
from printfleet.queue.jobs import create_job, record_event, transition
from printfleet.queue.policy import Reason, ReasonCode, render_reason
from printfleet.settings import Settings
from printfleet.texts import EVENT_TEXTS, EventCode, plan_said, said
from printfleet.web.i18n import LOCALES_DIR, Formatter, pick_locale, translations
from printfleet.web.reasons import reason_text, status_text
from tests.web.conftest import Actor, box_stl, login

PACKAGE = Path(printfleet.__file__).parent
DE_PO = LOCALES_DIR / "de" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdr]|%[sd]")

#: texts that are the same in German (a short, explicit list: brand and technical words, loanwords)
SAME_IN_GERMAN = frozenset({
    "Code", "Filament", "Material", "Name", "Status", "live", "offline", "orange", "transparent",
})
#: English texts that are German words too, with another German translation (the button "Pause" is "Pausieren";
#: "Pause" in a German sentence proves nothing)
ALSO_GERMAN_WORDS = frozenset({"Pause"})


# --- the catalog ------------------------------------------------------------------------------------------


def source_messages() -> dict[str, tuple[str, int]]:
    """Every text marked for translation in the package (as ``scripts/i18n.sh`` extracts it), with a place."""
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found: dict[str, tuple[str, int]] = {}
    method_map = [("web/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for file, line, message, _comments, _ctx in extract_from_dir(str(PACKAGE), method_map, options, keywords):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, (file, line))
    return found


def german_catalog() -> dict[str, str | tuple[str, ...]]:
    """msgid -> German, for entries that are translated (not empty, not fuzzy)."""
    catalog = read_po(DE_PO.open("rb"), locale="de")
    result: dict[str, str | tuple[str, ...]] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if all(strings):
            for msgid in ids:
                result[msgid] = strings[0] if len(strings) == 1 else strings
    return result


def _needs_german(msgid: str) -> bool:
    """Whether a text must read differently in German (it has words, and is not on the short list)."""
    words = PLACEHOLDER.sub("", msgid)
    return bool(re.search(r"[A-Za-z]{2,}", words)) and msgid not in SAME_IN_GERMAN


def catalog_problems() -> list[str]:
    german = german_catalog()
    problems = []
    for msgid, (file, line) in sorted(source_messages().items()):
        translated = german.get(msgid)
        if translated is None:
            problems.append(f"no German (empty or fuzzy): {msgid!r} ({file}:{line})")
            continue
        for text in translated if isinstance(translated, tuple) else (translated,):
            if text == msgid and _needs_german(msgid):
                problems.append(f"German is the English: {msgid!r} ({file}:{line})")
            if {m.group(0) for m in PLACEHOLDER.finditer(text)} - {m.group(0) for m in PLACEHOLDER.finditer(msgid)}:
                problems.append(f"German has placeholders the English has not: {msgid!r} -> {text!r}")
            elif "%(" in msgid and not PLACEHOLDER.search(text) and PLACEHOLDER.search(msgid):
                problems.append(f"German drops every placeholder: {msgid!r} -> {text!r}")
    return problems


def test_every_text_has_its_german() -> None:
    problems = catalog_problems()
    assert not problems, (f"{len(problems)} texts without German in {DE_PO} (run scripts/i18n.sh, then translate):\n"
                          + "\n".join(problems))
    assert translations("de").gettext("queued") == "in der Warteschlange"  # the catalog is what the pages use


def test_the_catalog_check_finds_empty_fuzzy_and_untranslated_german(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    before = set(catalog_problems())
    catalog = read_po(DE_PO.open("rb"), locale="de")
    catalog["the printer reports the print done"].string = ""
    catalog["bed of %(printer)s cleared"].flags.add("fuzzy")
    catalog["picked up"].string = "picked up"
    catalog["started on %(printer)s"].string = "gestartet auf %(drucker)s"
    catalog["Code"].string = "Code"  # the same in German, on the list
    from babel.messages.pofile import write_po

    broken = tmp_path / "messages.po"
    with broken.open("wb") as out:
        write_po(out, catalog)
    monkeypatch.setattr(sys.modules[__name__], "DE_PO", broken)
    problems = set(catalog_problems()) - before
    assert len(problems) == 4 and all(any(text in p for p in problems) for text in (
        "no German (empty or fuzzy): 'the printer reports the print done'",
        "no German (empty or fuzzy): 'bed of %(printer)s cleared'",
        "German is the English: 'picked up'", "placeholders the English has not: 'started on %(printer)s'"))


def test_the_page_check_finds_english_but_not_german_or_data() -> None:
    assert english_in("der Drucker meldet den Druck als fertig") == []
    assert "the printer reports the print done" in english_in("14:02 the printer reports the print done")
    assert "started on %(printer)s" in english_in("started on mk3s-1")
    assert english_in("Halter-3.stl · PLA · K7QXH · 'done'") == []  # data and quoted identifiers are not English


def test_the_same_in_german_list_is_short_and_used() -> None:
    german = german_catalog()
    unused = {text for text in SAME_IN_GERMAN if german.get(text) != text}
    assert not unused, f"drop these from SAME_IN_GERMAN (not in the catalog, or German differs): {sorted(unused)}"
    assert len(SAME_IN_GERMAN) <= 15 and len(ALSO_GERMAN_WORDS) <= 5
    assert all(german.get(word) not in (None, word) for word in ALSO_GERMAN_WORDS)


# --- codes ------------------------------------------------------------------------------------------------

#: a sample value for every parameter an event text uses (a new parameter needs one here)
SAMPLE_PARAMS: dict[str, object] = {
    "printer": "mk3s-1", "file_name": "Zahnrad-v2.stl", "profile": "mk3s-0.20mm-pla.ini", "print_time_s": 5460.0,
    "filament_g": 23.4, "source": "slicer", "job_code": "K7QXH", "note": "Ecke hat sich gelöst", "error": None,
    "rest_s": 40.0, "detail": "HTTP 409",
}
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC).timestamp()
#: a sample value for every parameter a scheduler reason uses
REASON_PARAMS: dict[str, object] = {
    "start_at": NOW + 3600, "closes_at": NOW + 7200, "printer": "mk3s-1", "material": "PLA", "colour": "black",
    "ahead": 2, "used_s": 7200.0, "window_s": 7 * 86400.0, "queued_s": 3600.0, "higher": 2, "max_jobs": 1,
    "limit_s": 4 * 3600.0, "limit_g": 250.0, "needed": 3, "need": "size", "bbox_mm": (300, 300, 300),
    "nozzle_mm": 0.6, "tags": ("room-b",), "share": 0.6, "first": True, "period": "day", "longest_s": 36000.0,
}


def event_params(code: EventCode) -> dict[str, object]:
    """Sample parameters for one event code's template."""
    names = set(re.findall(r"%\((\w+)\)", EVENT_TEXTS[code]))
    missing = names - SAMPLE_PARAMS.keys()
    assert not missing, f"add sample values for {sorted(missing)} (event {code.value})"
    params = {name: SAMPLE_PARAMS[name] for name in sorted(names)}
    if "error" in params:
        params["error"] = UserError("file %(file)s is empty", file="leer.stl").as_param() \
            if code is EventCode.DISPATCH_FAILED else "Thermal Runaway"
    return params


def test_every_event_and_printer_event_code_has_a_text() -> None:
    assert set(EVENT_TEXTS) == set(EventCode), "every event code needs its English template in EVENT_TEXTS"
    assert {kind.value for kind in PrinterEventKind} <= {code.value for code in EventCode}


@pytest.mark.parametrize("code", list(ReasonCode))
def test_every_scheduler_reason_has_german_words(code: ReasonCode, caplog: pytest.LogCaptureFixture) -> None:
    reason = Reason(code, REASON_PARAMS)
    german = reason_text(reason, translations("de"), Formatter("de_DE", ZoneInfo("Europe/Berlin")), NOW)
    assert "no translation for reason" not in caplog.text, f"{code.value} has no words in printfleet.web.reasons"
    assert german != render_reason(reason, tz="Europe/Berlin", now=NOW)
    assert not english_in(german), f"{code.value}: {german!r}"


def _error_classes() -> list[type[UserError]]:
    for info in pkgutil.walk_packages(printfleet.__path__, "printfleet."):
        if ".testing" not in info.name and not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    found, todo = [], [UserError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


#: modules whose errors only reach the command line (process settings, servers, the fleet file, the simulators)
CLI_ONLY = frozenset({
    "cli.py", "config.py", "settings.py", "services.py", "runtime.py", "supervisor.py", "db.py", "monitor.py",
    "drivers/__init__.py", "sim/cli.py", "estimate/cli.py", "queue/simulate.py", "accounts.py",
})


def test_every_error_a_person_can_trigger_has_a_template_marked_for_translation() -> None:
    names = {cls.__name__ for cls in _error_classes()}
    own_init = {cls.__name__ for cls in _error_classes() if "__init__" in vars(cls) and cls is not UserError}
    bare = []  # an error without its template marked, or an HTTPException with an English detail
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in CLI_ONLY or relative.startswith(("testing/", "migrations/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(), relative)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id == "HTTPException":
                detail = next((k.value for k in node.keywords if k.arg == "detail"), None)
                if isinstance(detail, ast.JoinedStr | ast.Constant):
                    bare.append(f"{relative}:{node.lineno}: {ast.unparse(node)[:100]}")
                continue
            if node.func.id not in names or node.func.id in own_init:
                continue  # (an error with its own __init__ builds its template there)
            first = node.args[0] if node.args else None
            marked = (isinstance(first, ast.Call) and isinstance(first.func, ast.Name) and first.func.id == "N_"
                      and isinstance(first.args[0], ast.Constant))  # fmt: skip
            if not marked:
                bare.append(f"{relative}:{node.lineno}: {ast.unparse(node)[:100]}")
    assert not bare, "raise these with N_(\"template\") and parameters (printfleet.errors):\n" + "\n".join(bare)


def test_every_error_class_has_its_own_code() -> None:
    codes: dict[str, str] = {}
    for cls in _error_classes():
        if cls is not UserError and "code" in vars(cls):
            assert cls.code not in codes, f"{cls.__name__} and {codes[cls.code]} share the code {cls.code!r}"
            codes[cls.code] = cls.__name__


# --- German pages ---------------------------------------------------------------------------------------------


def _literal_pattern(msgid: str) -> re.Pattern[str] | None:
    """A pattern that finds the English text of ``msgid`` (placeholders match anything short)."""
    literals = PLACEHOLDER.split(msgid)[::2]  # split() also returns the placeholders' names, in between
    if not re.search(r"[A-Za-z]{3,}", "".join(literals)):
        return None
    body = r".{1,80}?".join(re.escape(literal) for literal in literals)
    start = r"\b" if re.match(r"\w", msgid) else ""
    end = r"\b" if re.search(r"\w$", msgid) else ""
    return re.compile(start + body + end)


def _english_patterns() -> list[tuple[str, re.Pattern[str]]]:
    german = german_catalog()
    patterns = []
    for msgid in source_messages():
        translated = german.get(msgid)
        if not _needs_german(msgid) or (translated is not None and translated == msgid) or msgid in ALSO_GERMAN_WORDS:
            continue
        pattern = _literal_pattern(msgid)
        if pattern is not None:
            patterns.append((msgid, pattern))
    return patterns


_PATTERNS: list[tuple[str, re.Pattern[str]]] = []


#: an identifier in quotes (an API value such as 'done'): data, not words
QUOTED_IDENTIFIER = re.compile(r"'[\w.-]+'")


def english_in(text: str) -> list[str]:
    """The English texts of the catalog (whose German differs) that ``text`` contains."""
    if not _PATTERNS:
        _PATTERNS.extend(_english_patterns())
    text = QUOTED_IDENTIFIER.sub("", text)
    return [msgid for msgid, pattern in _PATTERNS if pattern.search(text)]


class VisibleText(html.parser.HTMLParser):
    """The text a person sees on a page: text nodes, the attributes read out or shown (alt, title,
    placeholder, aria-label, data-label, button values) and the texts the page's script shows (``pf-i18n``)."""

    ATTRIBUTES = frozenset({"alt", "title", "placeholder", "aria-label", "data-label", "value", "data-confirm",
                            "data-ask", "data-ask-label", "data-ask-ok"})  # the page's own dialog (pages)

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip: list[str] = []
        self._script_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "style"):
            self._skip.append(tag)
            self._script_json = tag == "script" and values.get("type") == "application/json"
        for name in self.ATTRIBUTES & values.keys():
            if name != "value" or (tag == "input" and values.get("type") in ("submit", "button")):
                self.parts.append(values[name] or "")

    def handle_endtag(self, tag: str) -> None:
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()
            self._script_json = False

    def handle_data(self, data: str) -> None:
        if self._script_json:
            self.parts.extend(_strings(json.loads(data)))
        elif not self._skip and data.strip():
            self.parts.append(" ".join(data.split()))


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def visible_text(page: str) -> list[str]:
    parser = VisibleText()
    parser.feed(page)
    return parser.parts


# --- realistic data -------------------------------------------------------------------------------------------

#: the job each status is reached with: (status, path of transitions after the queue)
STATUS_PATHS: dict[JobStatus, list[JobStatus]] = {
    JobStatus.QUEUED: [],
    JobStatus.ASSIGNED: [JobStatus.ASSIGNED],
    JobStatus.SLICING: [JobStatus.ASSIGNED, JobStatus.SLICING],
    JobStatus.UPLOADING: [JobStatus.ASSIGNED, JobStatus.SLICING, JobStatus.UPLOADING],
    JobStatus.PRINTING: [JobStatus.ASSIGNED, JobStatus.UPLOADING, JobStatus.PRINTING],
    JobStatus.PAUSED: [JobStatus.ASSIGNED, JobStatus.UPLOADING, JobStatus.PRINTING, JobStatus.PAUSED],
    JobStatus.DONE: [JobStatus.ASSIGNED, JobStatus.UPLOADING, JobStatus.PRINTING, JobStatus.DONE],
    JobStatus.COLLECTED: [JobStatus.ASSIGNED, JobStatus.UPLOADING, JobStatus.PRINTING, JobStatus.DONE,
                          JobStatus.COLLECTED],
    JobStatus.FAILED: [JobStatus.ASSIGNED, JobStatus.UPLOADING, JobStatus.PRINTING, JobStatus.FAILED],
    JobStatus.CANCELLED: [JobStatus.CANCELLED],
}
PRINTERS = ["mk3s-1", "mk3s-2", "mini-1", "mini-2"]


def populate(settings: Settings) -> dict[str, object]:
    """Jobs of two makers in every status, one job whose history has every event code, every scheduler reason and
    every printer event, and printers with a bed to clear and in maintenance. Returns what the pages need."""
    engine = db.make_engine(settings.effective_database_url)
    jobs: dict[JobStatus, int] = {}
    try:
        with db.session_scope(engine) as session:
            ada = session.exec(select(User).where(User.name == "maker-a")).one()
            bo = session.exec(select(User).where(User.name == "maker-b")).one()

            def new(owner: User, name: str, approval: Reason | None = None, **fields: object) -> Job:
                return create_job(session, owner=owner, file_name=name, file_sha256=f"{len(jobs):064x}",
                                  file_kind=FileKind.GCODE if name.endswith(".gcode") else FileKind.STL,
                                  file_size=68_400, needs_approval=plan_said(approval) if approval else None,
                                  material="PLA", colour="black", est_print_time_s=5460.0, est_filament_g=23.4,
                                  est_source="mesh", bbox_mm=[40.0, 30.0, 12.0], **fields)  # fmt: skip

            for index, (status, path) in enumerate(STATUS_PATHS.items()):
                job = new(ada if index % 2 == 0 else bo, f"Halter-{index}.stl", note="bitte in Schwarz")
                printer = PRINTERS[index % len(PRINTERS)]
                for step in path:
                    fields: dict[str, object] = {"printer_id": printer} if step is JobStatus.ASSIGNED else {}
                    if step is JobStatus.FAILED:
                        reason = said(EventCode.PRINT_STOPPED)
                        fields["failure_reason"] = reason.english()
                    else:
                        reason = ""
                    transition(session, job.id, step, actor="system:worker", reason=reason, **fields)  # type: ignore[arg-type]
                jobs[status] = job.id  # type: ignore[assignment]
            waiting = new(bo, "Deckel.gcode", Reason(ReasonCode.APPROVAL_LONG, {"limit_s": 4 * 3600.0}))
            jobs[JobStatus.AWAITING_APPROVAL] = waiting.id  # type: ignore[assignment]
            rejected = new(ada, "Riesenvase.stl", Reason(ReasonCode.APPROVAL_HEAVY, {"limit_g": 250.0}))
            transition(session, rejected.id, JobStatus.REJECTED, actor="staff",  # type: ignore[arg-type]
                       reason="zu schwer für unsere Drucker; bitte teilen")
            jobs[JobStatus.REJECTED] = rejected.id  # type: ignore[assignment]
            uploaded = Job(code="UPL23", owner_id=ada.id, file_name="Entwurf.stl", file_sha256="e" * 64,  # type: ignore[arg-type]
                           file_kind=FileKind.STL, file_size=1000)  # fmt: skip
            session.add(uploaded)
            session.flush()
            record_event(session, uploaded, actor="maker-a", kind="created", to_status=JobStatus.UPLOADED,
                         reason=said(EventCode.UPLOADED, file_name="Entwurf.stl"))  # fmt: skip
            jobs[JobStatus.UPLOADED] = uploaded.id  # type: ignore[assignment]

            story = session.get(Job, jobs[JobStatus.DONE])
            assert story is not None
            for code in EventCode:
                record_event(session, story, actor="system:monitor", kind="transition", reason=said(code, **event_params(code)),
                             from_status=JobStatus.PRINTING, to_status=JobStatus.PRINTING)  # fmt: skip
            for reason_code in ReasonCode:
                record_event(session, story, actor="system:dispatcher", kind="transition",
                             reason=plan_said(Reason(reason_code, REASON_PARAMS)), from_status=JobStatus.QUEUED,
                             to_status=JobStatus.QUEUED)  # fmt: skip
            for kind in PrinterEventKind:
                record_printer_event(session, story.printer_id or "mk3s-1", kind, actor="staff", job=story,
                                     reason="Düse getauscht" if kind is PrinterEventKind.MAINTENANCE_ON else "")
            for actor in ("system:monitor", "system:worker", "system:intake", "system:dispatcher"):
                record_event(session, story, actor=actor, kind="transition", reason=said(EventCode.STARTED, printer="mini-1"),
                             from_status=JobStatus.UPLOADING, to_status=JobStatus.PRINTING)  # fmt: skip
            finished = session.get(Printer, story.printer_id)
            assert finished is not None
            finished.bed_clear, finished.updated_at = False, utcnow()
            resting = session.get(Printer, "mini-2")
            assert resting is not None
            resting.maintenance, resting.maintenance_reason = True, "Düse verstopft"
            codes = {status: session.get(Job, job_id).code for status, job_id in jobs.items()}  # type: ignore[union-attr]
            printing_on = session.get(Job, jobs[JobStatus.PRINTING]).printer_id  # type: ignore[union-attr]
    finally:
        engine.dispose()
    return {"jobs": jobs, "codes": codes, "story": jobs[JobStatus.DONE], "printing_on": printing_on}


def page_urls(data: dict[str, object]) -> list[str]:
    """Every page (GET route outside /api) with every job of the data where it takes one."""
    jobs: dict[JobStatus, int] = data["jobs"]  # type: ignore[assignment]
    codes: dict[JobStatus, str] = data["codes"]  # type: ignore[assignment]
    urls = []
    for info in pkgutil.iter_modules(printfleet.web.routes.__path__):
        module = importlib.import_module(f"printfleet.web.routes.{info.name}")
        router = getattr(module, "router", None)
        for route in getattr(router, "routes", []):
            if not isinstance(route, APIRoute) or "GET" not in route.methods or route.path.startswith("/api"):
                continue
            if route.path in ("/events", "/lang", "/docs", "/healthz", "/metrics") or route.path.endswith((".png", ".csv")):
                continue  # not pages
            params = set(re.findall(r"\{(\w+)\}", route.path))
            if not params:
                urls.append(route.path)
            elif params == {"job_id"}:
                urls.extend(route.path.replace("{job_id}", str(job_id)) for job_id in jobs.values())
            elif params == {"code"}:
                urls.extend(route.path.replace("{code}", code) for code in codes.values())
            else:
                pytest.fail(f"add sample values for the page {route.path}")
    return urls


@pytest.fixture()
def german_site(client: TestClient, actors: dict[str, Actor], web_settings: Settings) -> dict[str, object]:
    data = populate(web_settings)
    client.get("/api/queue")  # the live view has seen the new jobs
    return data


def _english_on(client: TestClient, url: str) -> list[str]:
    response = client.get(url + ("&" if "?" in url else "?") + "lang=de")
    assert response.status_code < 500, (url, response.status_code)
    if "text/html" not in response.headers.get("content-type", ""):
        return []
    return [f"{url}: {msgid!r} in {part!r}" for part in visible_text(response.text) for msgid in english_in(part)]


def test_german_pages_show_no_english(client: TestClient, german_site: dict[str, object]) -> None:
    urls = page_urls(german_site)
    assert any(u.startswith("/me/jobs/") for u in urls) and "/staff" in urls and "/wall" in urls
    found: list[str] = []
    for url in ["/", "/login", "/j", "/wall", *(u for u in urls if u.startswith("/j/"))]:
        found += _english_on(client, url)
    for who in ("maker-a", "staff"):
        client.cookies.clear()
        login(client, who)
        for url in urls:
            found += _english_on(client, url)
    assert not found, f"{len(found)} English texts on German pages:\n" + "\n".join(sorted(set(found)))


def test_the_history_shows_every_event_in_german(client: TestClient, german_site: dict[str, object]) -> None:
    login(client, "staff")
    page = " ".join(visible_text(client.get(f"/me/jobs/{german_site['story']}?lang=de").text))
    german, fmt = translations("de"), Formatter("de_DE", ZoneInfo("Europe/Berlin"))
    from printfleet.web.reasons import coded_text

    for code in EventCode:
        assert coded_text(code.value, event_params(code), german, fmt) in page, code.value
    for actor in ("Druckerüberwachung", "Druckversand", "Eingangsprüfung", "Planung"):
        assert actor in page
    assert "system:" not in page


# --- errors in the reader's language ------------------------------------------------------------------------


def error_requests(client: TestClient, actors: dict[str, Actor], data: dict[str, object]) -> Iterator[tuple[str, object]]:
    """(what, response) for every error a person can get from the API, asked in the language of the query."""
    jobs: dict[JobStatus, int] = data["jobs"]  # type: ignore[assignment]
    maker, staff = actors["maker_a"].headers, actors["staff"].headers

    def upload(name: str, content: bytes, **fields: str) -> object:
        return client.post("/api/jobs", headers=maker, files={"file": (name, content, "model/stl")}, data=fields)

    yield "job does not exist", client.get("/api/jobs/999999", headers=maker)
    yield "someone else's job", client.get(f"/api/jobs/{jobs[JobStatus.QUEUED]}", headers=actors["maker_b"].headers)
    yield "empty file", upload("leer.stl", b"")
    yield "not an STL", upload("kaputt.stl", b"this is not a mesh at all " * 40)
    yield "G-code without moves", upload("leer.gcode", b"; nur ein Kommentar\n")
    yield "unsupported kind", upload("foto.jpg", b"\xff\xd8\xff" * 100)
    yield "no file name", client.post("/api/jobs", headers=maker, files={"file": ("", b"x", "model/stl")})
    yield "too big for every printer", upload("riesig.stl", box_stl(400, 400, 400))
    yield "unknown material", upload("teil.stl", box_stl(), material="ABS")
    yield "bad colour", upload("teil.stl", box_stl(), colour="$$$")
    yield "maker sets a priority", upload("teil.stl", box_stl(), priority="5")
    yield "copies out of range", upload("teil.stl", box_stl(), copies="0")
    yield "copies not a number", upload("teil.stl", box_stl(), copies="drei")
    yield "file and upload_id", client.post("/api/jobs", headers=maker, data={"upload_id": "x"},
                                            files={"file": ("a.stl", box_stl(), "model/stl")})
    yield "neither file nor upload_id", client.post("/api/jobs", headers=maker, data={"note": "x"})
    yield "upload expired", client.post("/api/jobs", headers=maker, data={"upload_id": "abgelaufen"})
    yield "upload preview expired", client.get("/api/uploads/abgelaufen/preview.png", headers=maker)
    yield "no preview of G-code", client.get(f"/api/jobs/{jobs[JobStatus.AWAITING_APPROVAL]}/preview.png", headers=staff)
    yield "body too large", client.post("/api/jobs", headers=maker, files={"file": ("gross.stl", b"x" * 2_200_000)})
    yield "small body too large", client.post(f"/api/jobs/{jobs[JobStatus.QUEUED]}/cancel", headers=maker,
                                              content=b"{" + b" " * 1_100_000 + b"}")
    yield "not signed in", client.get("/api/jobs")
    yield "bad token", client.get("/api/jobs", headers={"Authorization": "Bearer pf_nope"})
    yield "staff only", client.post("/api/printers/mk3s-1/pause", headers=maker)
    yield "only staff approve", client.post(f"/api/jobs/{jobs[JobStatus.AWAITING_APPROVAL]}/approve",
                                            headers=actors["maker_b"].headers)
    yield "reject without reason", client.post(f"/api/jobs/{jobs[JobStatus.AWAITING_APPROVAL]}/reject", headers=staff,
                                               json={"reason": " "})
    yield "collect a queued job", client.post(f"/api/jobs/{jobs[JobStatus.QUEUED]}/collected", headers=maker)
    yield "approve a queued job", client.post(f"/api/jobs/{jobs[JobStatus.QUEUED]}/approve", headers=staff)
    yield "stale version", client.post(f"/api/jobs/{jobs[JobStatus.QUEUED]}/cancel", headers=maker,
                                       json={"expected_version": 999})
    yield "requeue a collected job", client.post(f"/api/jobs/{jobs[JobStatus.COLLECTED]}/requeue", headers=staff)
    yield "unknown printer", client.post("/api/printers/nope/pause", headers=staff)
    yield "unknown printer (read)", client.get("/api/printers/nope")
    yield "bed of a printing printer", client.post(f"/api/printers/{data['printing_on']}/bed-clear", headers=staff)
    yield "bed of someone else's print", client.post("/api/printers/mini-2/bed-clear", headers=actors["maker_b"].headers)
    yield "bad JSON", client.post(f"/api/jobs/{jobs[JobStatus.QUEUED]}/cancel", headers={**maker,
                                  "content-type": "application/json"}, content=b"{kaputt")
    yield "unknown field", client.post(f"/api/jobs/{jobs[JobStatus.QUEUED]}/cancel", headers=maker, json={"grund": 1})
    yield "reason too long", client.post(f"/api/jobs/{jobs[JobStatus.QUEUED]}/cancel", headers=maker,
                                         json={"reason": "x" * 600})
    yield "job id out of range", client.get("/api/jobs/0", headers=maker)
    yield "job id not a number", client.get("/api/jobs/eins", headers=maker)
    yield "bad status filter", client.get("/api/jobs?status=gedruckt", headers=maker)
    yield "limit too large", client.get("/api/jobs?limit=100000", headers=maker)
    yield "unknown page of the API", client.get("/api/gibtsnicht", headers=maker)
    yield "method not allowed", client.delete("/api/jobs", headers=maker)
    yield "maintenance body", client.post("/api/printers/mk3s-1/maintenance", headers=staff, json={"enabled": "jein"})


def test_errors_answer_in_the_readers_language_with_a_code(client: TestClient, actors: dict[str, Actor],
                                                            german_site: dict[str, object], web_settings: Settings) -> None:
    problems = []
    client.get("/lang?set=de")  # the page language is kept in a cookie, as the pages pick it
    german = list(error_requests(client, actors, german_site))
    client.get("/lang?set=en")
    english = list(error_requests(client, actors, german_site))
    for (what, de), (_, en) in zip(german, english, strict=True):
        assert 400 <= de.status_code < 500 and de.status_code == en.status_code, (what, de.status_code, de.text)
        body_de, body_en = de.json(), en.json()
        if not body_de.get("code") or body_de.get("code") != body_en.get("code"):
            problems.append(f"{what}: no stable code ({body_de.get('code')!r}, {body_en.get('code')!r})")
        if body_de["detail"] == body_en["detail"] or english_in(body_de["detail"]):
            problems.append(f"{what}: not in German: {body_de['detail']!r} (English: {body_en['detail']!r})")
        for answer in (body_de["detail"], body_en["detail"]):
            if str(web_settings.data_dir) in answer or "/files/" in answer or re.search(r"[0-9a-f]{40}", answer):
                problems.append(f"{what}: shows a server path: {answer!r}")
    assert not problems, f"{len(problems)} errors not in the reader's language:\n" + "\n".join(problems)


def test_error_pages_are_german(client: TestClient, actors: dict[str, Actor], german_site: dict[str, object]) -> None:
    jobs: dict[JobStatus, int] = german_site["jobs"]  # type: ignore[assignment]
    login(client, "maker-b")
    found = []
    for url in ("/me/jobs/999999", f"/me/jobs/{jobs[JobStatus.QUEUED]}", "/staff", "/j/NICHT", "/gibtsnicht"):
        response = client.get(url + "?lang=de")
        assert response.status_code in (403, 404), url
        text = visible_text(response.text)
        found += [f"{url}: {m!r}" for part in text for m in english_in(part)]
        if url.startswith(("/me/", "/staff")):
            assert "Anmelden" not in text, f"{url}: the header offers to sign in while signed in"
    assert not found, "\n".join(found)


# --- languages, times -----------------------------------------------------------------------------------------


def test_locale_choice() -> None:
    assert pick_locale(None, None, "de") == "de"
    assert pick_locale("en", "de", "de") == "en"
    assert pick_locale(None, "en-GB", "de") == "en"
    assert pick_locale("fr", None, "de_AT") == "de"
    assert pick_locale("xx", "yy", "zz") == "en"


def test_reasons_and_statuses_in_both_languages() -> None:
    fmt_de = Formatter("de", ZoneInfo("Europe/Berlin"))
    fmt_en = Formatter("en", ZoneInfo("Europe/Berlin"))
    now = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC).timestamp()
    reason = Reason(ReasonCode.WAITING_FOR_PRINTER, {"material": "PLA", "colour": "black", "ahead": 2,
                                                     "start_at": now + 3600})
    de = reason_text(reason, translations("de"), fmt_de, now)
    en = reason_text(reason, translations("en"), fmt_en, now)
    assert de == "wartet auf einen freien Drucker mit PLA in schwarz (2 Aufträge davor) (voraussichtlicher Start 12:00)"
    assert en.startswith("waiting for a free printer with black PLA (2 jobs ahead) (expected start 12:00")
    assert status_text("done", translations("de")) == "zum Abholen bereit"


def test_times_in_the_site_timezone() -> None:
    fmt = Formatter("de", ZoneInfo("Europe/Berlin"))
    winter = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
    assert fmt.datetime(winter) == "05.01.26, 13:00"
    assert fmt.when(winter, now=winter) == "13:00"
    assert fmt.number(1234.5, 1) == "1.234,5"
    assert Formatter("en", ZoneInfo("UTC")).number(1234.5, 1) == "1,234.5"
    assert fmt.duration(3900) == "1 h 05 min"
