// The wall's "today" line: refreshed every minute from /api/wall/today (the server computes it once per change).
"use strict";
(() => {
  const REFRESH_MS = 60_000;
  function locale() {
    try { return JSON.parse(document.getElementById("pf-i18n").textContent).locale || undefined; }
    catch (e) { return undefined; }
  }
  async function refresh(block) {
    try {
      const response = await fetch(block.dataset.url, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const data = await response.json();
      const hours = new Intl.NumberFormat(locale(), { minimumFractionDigits: 1, maximumFractionDigits: 1 });
      for (const dd of block.querySelectorAll("[data-k]")) {
        const value = data[dd.dataset.k];
        if (value === undefined) continue;
        dd.textContent = dd.dataset.k === "print_hours" ? hours.format(value) + (dd.dataset.unit || "") : String(value);
      }
    } catch (e) { /* offline for a moment: keep the last figures */ }
  }
  document.addEventListener("DOMContentLoaded", () => {
    const block = document.getElementById("today");
    if (block) setInterval(() => refresh(block), REFRESH_MS);
  });
})();
