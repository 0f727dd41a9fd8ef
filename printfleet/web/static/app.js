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
