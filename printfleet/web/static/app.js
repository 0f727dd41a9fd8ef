// printfleet pages: a little plain JavaScript (no build step).
"use strict";
const pf = (() => {
  const I = JSON.parse(document.getElementById("pf-i18n").textContent);
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const $ = (sel, root = document) => root.querySelector(sel);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const timeFmt = new Intl.DateTimeFormat(I.locale, {hour: "2-digit", minute: "2-digit", timeZone: I.timezone});
  const dayFmt = new Intl.DateTimeFormat(I.locale, {weekday: "short", hour: "2-digit", minute: "2-digit", timeZone: I.timezone});
  const dayKey = new Intl.DateTimeFormat("en-CA", {timeZone: I.timezone});
  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return dayKey.format(d) === dayKey.format(new Date()) ? timeFmt.format(d) : dayFmt.format(d);
  }
  function duration(s) {
    if (s == null) return "–";
    let m = Math.max(0, Math.round(s / 60)); const h = Math.floor(m / 60); m %= 60;
    return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min`;
  }
  const num = (v, d = 0) => v == null ? "–" : new Intl.NumberFormat(I.locale, {maximumFractionDigits: d}).format(v);

  async function post(url, body) {
    const opts = {method: "POST", headers: {"X-CSRF-Token": csrf(), "Accept": "application/json"}, credentials: "same-origin"};
    if (body instanceof FormData) opts.body = body;
    else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
    const res = await fetch(url, opts);
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.detail || res.statusText);
    return data;
  }

  // buttons with data-post="/api/..." (data-confirm, data-reason, data-json)
  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-post]");
    if (!btn) return;
    ev.preventDefault();
    if (btn.dataset.confirm && !window.confirm(I.confirm)) return;
    let body = btn.dataset.json ? JSON.parse(btn.dataset.json) : undefined;
    if (btn.dataset.reason) {
      const reason = window.prompt("?");
      if (reason === null) return;
      body = {reason};
    }
    btn.disabled = true;
    try { await post(btn.dataset.post, body); window.location.reload(); }
    catch (err) { window.alert(err.message); btn.disabled = false; }
  });

  // live updates over Server-Sent Events, re-connecting by itself (also after a server restart)
  function live(handlers, url = "/events") {
    const badge = $("#live-state");
    let source = null, lastSeen = Date.now();
    const mark = (ok) => { if (badge) { badge.textContent = ok ? "● " + I.live : "○ " + I.reconnecting; badge.classList.toggle("down", !ok); } };
    function connect() {
      if (source) source.close();
      source = new EventSource(url);
      source.onopen = () => { lastSeen = Date.now(); mark(true); };
      source.onerror = () => { mark(false); if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000); };
      for (const [name, fn] of Object.entries(handlers)) {
        source.addEventListener(name, (e) => { lastSeen = Date.now(); mark(true); fn(JSON.parse(e.data)); });
      }
      source.onmessage = () => { lastSeen = Date.now(); };
    }
    setInterval(() => { if (Date.now() - lastSeen > 45000) { lastSeen = Date.now(); connect(); } }, 5000);
    connect();
    return {touch: () => { lastSeen = Date.now(); }};
  }

  // printer cards: the server renders every card (printfleet/web/cards.py, _printer_card.html) and the stream
  // carries the fragment in the page's language; here it is only swapped in. A card whose reason form is open
  // keeps its DOM until the form closes, then takes the newest fragment.
  function busyCard(el) {
    return el.querySelector("details[open]") !== null || el.contains(document.activeElement) && document.activeElement.matches("input, textarea");
  }
  function swapCard(card) {
    if (!card.html) return;
    const el = document.querySelector(`[data-printer="${CSS.escape(card.id)}"]`);
    if (!el) return;
    if (busyCard(el)) { el.pendingHtml = card.html; return; }
    const tpl = document.createElement("template");
    tpl.innerHTML = card.html;
    el.replaceWith(tpl.content.firstElementChild);
  }
  function swapPending(el) {
    if (el && el.pendingHtml && !busyCard(el)) { const html = el.pendingHtml; el.pendingHtml = null; swapCard({id: el.dataset.printer, html}); }
  }
  function cardMessage(el, text) {
    let box = el.querySelector(".pc-message");
    if (!box) { box = document.createElement("p"); box.className = "pc-message"; box.setAttribute("role", "alert"); el.append(box); }
    box.textContent = text;
  }
  document.addEventListener("toggle", (ev) => {
    if (ev.target.matches && ev.target.matches(".pc-ask") && !ev.target.open) swapPending(ev.target.closest("[data-printer]"));
  }, true);
  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-card-action]");
    if (!btn) return;
    ev.preventDefault();
    const card = btn.closest("[data-printer]");
    btn.disabled = true;  // the card comes back from the server when the printer or the record changed
    try { await post(btn.dataset.url, btn.dataset.body ? JSON.parse(btn.dataset.body) : undefined); }
    catch (err) { cardMessage(card, err.message); btn.disabled = false; }
  });
  document.addEventListener("submit", async (ev) => {
    const form = ev.target.closest("form[data-card-action]");
    if (!form) return;
    ev.preventDefault();
    const card = form.closest("[data-printer]");
    const body = Object.assign(form.dataset.body ? JSON.parse(form.dataset.body) : {}, {reason: form.elements.reason.value.trim()});
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      await post(form.dataset.url, body);
      form.closest("details").open = false;
      if (document.activeElement) document.activeElement.blur();
      swapPending(card);
    } catch (err) { cardMessage(card, err.message); submit.disabled = false; }
  });

  function wall() {
    const clock = $("#clock");
    const tick = () => { clock.textContent = timeFmt.format(new Date()); };
    tick(); setInterval(tick, 10000);
    live({
      printer: swapCard,
      lists: (l) => { $("#queue").innerHTML = l.queue; $("#pickup").innerHTML = l.pickup; },
    }, $("#printers").dataset.events);
  }

  function staffLive() {
    let last = null;
    live({
      printer: swapCard,
      jobs: async (j) => {
        const key = JSON.stringify(j.codes);
        if (last !== null && key !== last) {
          const html = await (await fetch(location.pathname, {credentials: "same-origin"})).text();
          const doc = new DOMParser().parseFromString(html, "text/html");
          const fresh = doc.getElementById("staff-lists");
          if (fresh) document.getElementById("staff-lists").replaceWith(fresh);
        }
        last = key;
      },
    }, $("#printers").dataset.events);
  }

  function myJobsLive() {
    live({
      jobs: (j) => {
        document.querySelectorAll("tr[data-code]").forEach((row) => {
          const info = j.codes[row.dataset.code];
          if (!info) return;
          $("[data-k=status]", row).innerHTML = `<span class="badge s-${esc(info.status)}">${esc(I.statuses[info.status] || info.status)}</span>`;
          $("[data-k=position]", row).textContent = info.position || "";
          $("[data-k=start]", row).textContent = info.start_at ? when(info.start_at) : "";
        });
      },
    });
  }

  // /j/{code}: the job's place and start in place; its printer's card swapped in; a new status reloads the page
  function publicJobLive() {
    const box = $(".public-job");
    live({
      printer: swapCard,
      jobs: (j) => {
        const info = j.codes[box.dataset.code];
        if (!info) return;
        if (info.status !== box.dataset.status) { window.location.reload(); return; }
        const pos = $("[data-k=position]", box); if (pos) pos.textContent = info.position || "";
        const start = $("[data-k=start]", box); if (start) start.textContent = info.start_at ? when(info.start_at) : "";
      },
    }, box.dataset.events);
  }

  function uploadPage() {
    const form = $("#upload-form");
    const prog = $("#upload-progress"), bar = $("progress", prog), pct = $(".pct", prog), what = $(".what", prog);
    const err = $("#upload-error"), box = $("#estimate");
    let uploadId = null;
    const showError = (msg) => { err.textContent = msg; err.hidden = false; prog.hidden = true; };
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      err.hidden = true; box.hidden = true; prog.hidden = false; bar.value = 0; pct.textContent = "0 %"; what.textContent = I.uploading;
      const data = new FormData();
      data.append("file", form.file.files[0]);
      if (form.material.value) data.append("material", form.material.value);
      if (form.colour.value) data.append("colour", form.colour.value);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/uploads");
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (e) => {
        if (!e.lengthComputable) return;
        const p = Math.round(100 * e.loaded / e.total);
        bar.value = p; pct.textContent = p + " %";
        if (p >= 100) what.textContent = I.estimating;
      };
      xhr.onerror = () => showError(I.upload_failed);
      xhr.onload = () => {
        let res = {};
        try { res = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status !== 201) { showError(I.upload_failed + ": " + (res.detail || xhr.status)); return; }
        prog.hidden = true;
        uploadId = res.upload_id;
        const e = res.estimate;
        $("[data-k=name]", box).textContent = res.file_name;
        $("[data-k=time]", box).textContent = duration(e.print_time_s);
        $("[data-k=grams]", box).textContent = e.filament_g == null ? "–" : num(e.filament_g) + " g";
        const hasCost = e.cost != null;
        $("[data-k=cost]", box).textContent = hasCost ? e.cost.toFixed(2) + " " + (e.currency || "") : "";
        $("[data-k=cost]", box).hidden = !hasCost;
        $("[data-k=cost-label]", box).hidden = !hasCost;
        $("[data-k=size]", box).textContent = e.bbox_mm ? e.bbox_mm.map((v) => Math.round(v)).join(" × ") + " mm" : "–";
        $("[data-k=fits]", box).textContent = e.fits.join(", ") || "–";
        $("[data-k=nofit]", box).hidden = e.fits.length > 0;
        $("#confirm-job").disabled = e.fits.length === 0;
        const img = $("#preview");
        if (res.preview_url) { img.src = res.preview_url; img.hidden = false; } else { img.hidden = true; }
        box.hidden = false;
      };
      xhr.send(data);
    });
    $("#confirm-job").addEventListener("click", async () => {
      const data = new FormData();
      data.append("upload_id", uploadId);
      for (const name of ["material", "colour", "copies", "note"]) if (form[name].value) data.append(name, form[name].value);
      try {
        const job = await post("/api/jobs", data);
        window.location.href = "/me/jobs/" + job.id;
      } catch (e) { showError(e.message); }
    });
    $("#discard-job").addEventListener("click", () => { box.hidden = true; form.reset(); });
  }

  return {post, live, wall, staffLive, myJobsLive, publicJobLive, uploadPage, when, duration};
})();
