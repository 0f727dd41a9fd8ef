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

  // A question in the page's own dialog (not the browser's prompt): a title, an optional text and reason field.
  // Resolves to the reason ("" without a field) or null when the person goes back.
  function ask({title, text = "", label = "", ok = I.ok, reason = false, required = false}) {
    const dlg = document.getElementById("pf-ask");
    const form = $("form", dlg), area = form.elements.reason, error = $("[data-k=error]", dlg);
    $("#pf-ask-title").textContent = title;
    $("[data-k=text]", dlg).textContent = text; $("[data-k=text]", dlg).hidden = !text;
    $("[data-k=label]", dlg).textContent = label; $("[data-k=reason-label]", dlg).hidden = !reason;
    $("[data-k=ok]", dlg).textContent = ok;
    area.value = ""; area.required = reason && required; error.hidden = true;
    return new Promise((resolve) => {
      const done = (value) => { form.onsubmit = null; $("[data-k=back]", dlg).onclick = null; dlg.onclose = null; if (dlg.open) dlg.close(); resolve(value); };
      form.onsubmit = (ev) => {
        ev.preventDefault();
        const value = area.value.trim();
        if (reason && required && !value) { error.textContent = I.reason_required; error.hidden = false; area.focus(); return; }
        done(reason ? value : "");
      };
      $("[data-k=back]", dlg).onclick = () => done(null);
      dlg.onclose = () => done(null);
      dlg.showModal();
      (reason ? area : $("[data-k=ok]", dlg)).focus();
    });
  }

  function actionError(btn, message) {
    const row = btn.closest("tr, .actions, p") || btn.parentElement;
    let box = row.nextElementSibling && row.nextElementSibling.matches(".action-error") ? row.nextElementSibling : null;
    if (row.matches("tr")) { box = row.querySelector(".action-error"); }
    if (!box) {
      box = document.createElement(row.matches("tr") ? "div" : "p");
      box.className = "error action-error"; box.setAttribute("role", "alert");
      if (row.matches("tr")) btn.parentElement.append(box); else row.after(box);
    }
    box.textContent = message;
  }

  // buttons with data-post="/api/..." (data-ask: the dialog's title, with data-ask-label for a reason field,
  // data-ask-required, data-ask-ok; data-confirm: "are you sure?"; data-json: a body)
  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-post]");
    if (!btn) return;
    ev.preventDefault();
    let body = btn.dataset.json ? JSON.parse(btn.dataset.json) : undefined;
    if (btn.dataset.confirm && !btn.dataset.ask && await ask({title: I.confirm, ok: btn.textContent.trim()}) === null) return;
    if (btn.dataset.ask) {
      const reason = await ask({title: btn.dataset.ask, label: btn.dataset.askLabel || "", ok: btn.dataset.askOk || I.ok,
                                reason: Boolean(btn.dataset.askLabel), required: Boolean(btn.dataset.askRequired)});
      if (reason === null) return;
      if (btn.dataset.askLabel) body = Object.assign(body || {}, {reason});
    }
    btn.disabled = true;
    try { await post(btn.dataset.post, body); window.location.reload(); }
    catch (err) { actionError(btn, err.message); btn.disabled = false; }
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
    const colours = JSON.parse(form.dataset.colours || "{}");
    let uploadId = null, pending = null;
    const showError = (msg) => { err.textContent = msg; err.hidden = false; prog.hidden = true; };
    const options = () => {
      const data = new FormData();
      if (form.material.value) data.append("material", form.material.value);
      if (form.colour.value) data.append("colour", form.colour.value);
      data.append("copies", form.copies.value || "1");
      return data;
    };
    // the colours of the chosen material that some printer has loaded, in the page's language
    function fillColours() {
      const keep = form.colour.value;
      const list = colours[form.material.value] || [];
      form.colour.replaceChildren(form.colour.options[0]);
      for (const c of list) form.colour.add(new Option(c.name, c.value));
      form.colour.value = list.some((c) => c.value === keep) ? keep : "";
    }
    const show = (k, text) => { const el = $(`[data-k=${k}]`, box); el.textContent = text || ""; el.hidden = !text; const l = $(`[data-k=${k}-label]`, box); if (l) l.hidden = !text; };
    function showEstimate(res) {
      uploadId = res.upload_id;
      const e = res.estimate;
      $("[data-k=name]", box).textContent = res.file_name;
      $("[data-k=time]", box).textContent = duration(e.print_time_s) + (e.copies > 1 ? " " + I.estimate_for.replace("{0}", e.copies) : "");
      $("[data-k=grams]", box).textContent = e.filament_g == null ? "–" : num(e.filament_g) + " g";
      show("cost", e.cost != null ? num(e.cost, 2) + " " + (e.currency || "") : "");
      const size = (v) => v ? v.map((x) => Math.round(x)).join(" × ") + " mm" : "–";
      $("[data-k=size]", box).textContent = size(e.part_mm || e.bbox_mm);
      show("plate", e.copies > 1 && e.bbox_mm ? I.plate.replace("{0}", e.copies).replace("{1}", size(e.bbox_mm).replace(" mm", "")) : "");
      show("sliced", e.sliced_for || "");
      $("[data-k=fits]", box).textContent = e.fit_names.join(", ") || "–";
      show("approval", e.approval || "");
      show("nofit", e.no_fit || "");
      show("warning", "");
      if (e.sliced_for && e.material && [...form.material.options].some((o) => o.value === e.material) && form.material.value !== e.material) {
        form.material.value = e.material; fillColours();  // a G-code prints with the filament it was sliced for
      }
      $("#confirm-job").hidden = !e.fits.length;
      const img = $("#preview");
      if (res.preview_url) { img.src = res.preview_url; img.hidden = false; } else { img.hidden = true; }
      box.hidden = false;
    }
    // options changed after the estimate: estimate again (copies on one plate, another printer's profile).
    // "Queue it" waits for the newest estimate, so typing a number of copies and clicking it at once works.
    const optionsKey = () => JSON.stringify([form.material.value, form.colour.value, form.copies.value]);
    let estimatedKey = null, estimating = null;
    function reestimate() {
      if (!uploadId || box.hidden || optionsKey() === estimatedKey) return estimating;
      const key = optionsKey(), mine = pending = Symbol();
      what.textContent = I.estimating; prog.hidden = false; bar.removeAttribute("value"); pct.textContent = "";
      estimating = post(`/api/uploads/${encodeURIComponent(uploadId)}/estimate`, options()).then((res) => {
        if (mine !== pending) return;
        prog.hidden = true; err.hidden = true; estimatedKey = key; showEstimate(res);
      }, (e) => { if (mine === pending) { estimatedKey = null; showError(e.message); } });
      return estimating;
    }
    const chosen = $("[data-k=chosen]", form), noFile = chosen.textContent;
    form.file.addEventListener("change", () => { chosen.textContent = form.file.files.length ? form.file.files[0].name : noFile; });
    form.material.addEventListener("change", () => { fillColours(); reestimate(); });
    form.colour.addEventListener("change", reestimate);
    form.copies.addEventListener("change", reestimate);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (!form.file.files.length) { showError(I.choose_file); return; }
      err.hidden = true; box.hidden = true; prog.hidden = false; bar.value = 0; pct.textContent = "0 %"; what.textContent = I.uploading;
      const data = options(), sentKey = optionsKey();
      data.append("file", form.file.files[0]);
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
        estimatedKey = sentKey;
        showEstimate(res);
      };
      xhr.send(data);
    });
    $("#confirm-job").addEventListener("click", async () => {
      $("#confirm-job").disabled = true;
      await reestimate();
      if (!err.hidden || $("#confirm-job").hidden) { $("#confirm-job").disabled = false; return; }
      const data = options();
      data.append("upload_id", uploadId);
      if (form.note.value) data.append("note", form.note.value);
      try {
        const job = await post("/api/jobs", data);
        window.location.href = "/me/jobs/" + job.id;
      } catch (e) { showError(e.message); $("#confirm-job").disabled = false; }
    });
    $("#discard-job").addEventListener("click", () => { box.hidden = true; uploadId = null; estimatedKey = null; form.reset(); fillColours(); chosen.textContent = noFile; });
  }

  return {post, ask, live, wall, staffLive, myJobsLive, publicJobLive, uploadPage, when, duration};
})();
