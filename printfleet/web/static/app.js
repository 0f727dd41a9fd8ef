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
  function live(handlers) {
    const badge = $("#live-state");
    let source = null, lastSeen = Date.now();
    const mark = (ok) => { if (badge) { badge.textContent = ok ? "● " + I.live : "○ " + I.reconnecting; badge.classList.toggle("down", !ok); } };
    function connect() {
      if (source) source.close();
      source = new EventSource("/events");
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

  function printerCard(p, el) {
    const st = p.maintenance ? "maintenance" : p.status;
    el.className = "printer st-" + st;
    $("[data-k=status]", el).textContent = I.statuses[st] || st;
    $("[data-k=bar]", el).style.width = ((p.progress || 0) * 100).toFixed(1) + "%";
    $("[data-k=job]", el).innerHTML = p.job ? `<code>${esc(p.job.code)}</code> ${esc(p.job.nickname)}` : "";
    $("[data-k=eta]", el).textContent = p.eta ? (p.status === "printing" ? I.ready + " " + when(p.eta) : when(p.eta)) : "";
    const t = [];
    if (p.nozzle_temp && p.nozzle_temp.actual != null) t.push(I.nozzle + " " + Math.round(p.nozzle_temp.actual) + "°" + (p.nozzle_temp.target ? "/" + Math.round(p.nozzle_temp.target) + "°" : ""));
    if (p.bed_temp && p.bed_temp.actual != null) t.push(I.bed + " " + Math.round(p.bed_temp.actual) + "°");
    $("[data-k=temps]", el).textContent = t.join(" · ");
  }
  function onPrinter(p) {
    const el = document.querySelector(`[data-printer="${CSS.escape(p.id)}"]`);
    if (el) printerCard(p, el);
  }

  function wall() {
    const clock = $("#clock");
    const tick = () => { clock.textContent = timeFmt.format(new Date()); };
    tick(); setInterval(tick, 10000);
    live({
      printer: onPrinter,
      jobs: (j) => {
        $("#queue").innerHTML = j.queue.length ? j.queue.map((q) =>
          `<li><span class="pos">${q.position}</span><code>${esc(q.code)}</code><span class="nick">${esc(q.nickname)}</span><span class="start">${q.start_at ? when(q.start_at) : ""}</span></li>`).join("")
          : `<li class="empty">${esc(I.empty_queue)}</li>`;
        $("#pickup").innerHTML = j.pickup.length ? j.pickup.map((q) =>
          `<li><code>${esc(q.code)}</code><span class="nick">${esc(q.nickname)}</span><span class="where">${esc(q.printer)}</span></li>`).join("")
          : `<li class="empty">${esc(I.nothing_to_pick_up)}</li>`;
      },
    });
  }

  function staffLive() {
    let last = null;
    live({
      printer: onPrinter,
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
    });
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

  function publicJobLive() {
    const box = $(".public-job");
    live({
      jobs: (j) => {
        const info = j.codes[box.dataset.code];
        if (!info) return;
        const badge = $("[data-k=status]", box);
        if (badge.dataset.status && badge.dataset.status !== info.status) { window.location.reload(); return; }
        badge.dataset.status = info.status;
        const pos = $("[data-k=position]", box); if (pos) pos.textContent = info.position || "";
        const start = $("[data-k=start]", box); if (start) start.textContent = info.start_at ? when(info.start_at) : "";
      },
    });
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
