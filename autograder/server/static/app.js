// Live updates without a reload: upload through the JSON API, then poll each queued or
// grading submission until its grade is in. Text goes in with textContent (never innerHTML).
(function () {
  "use strict";
  const csrf = () => (document.querySelector('input[name="csrf"]') || {}).value || "";

  // Six significant digits, as the pages' server-side "%g": a live grade reads like a reloaded one.
  const g = (x) => String(Number(Number(x).toPrecision(6)));

  function cell(row, text) { const td = document.createElement("td"); td.textContent = text; row.appendChild(td); return td; }

  function show(d) {
    const row = document.getElementById("upload-" + d.id);
    if (row) {
      row.dataset.status = d.status;
      const st = row.querySelector(".status"); st.textContent = d.status; st.className = "status status-" + d.status;
      if (d.score !== null) row.querySelector(".score").textContent = g(d.score) + " / " + g(d.max_score);
    }
    const one = document.getElementById("submission");
    if (one && String(one.dataset.id) === String(d.id)) {
      one.dataset.status = d.status;
      const st = document.getElementById("status"); st.textContent = d.status; st.className = "status status-" + d.status;
      if (d.score !== null) document.getElementById("score").textContent = g(d.score) + " / " + g(d.max_score);
      const body = document.querySelector("#tests tbody");
      body.textContent = "";
      for (const t of d.tests) {
        const tr = document.createElement("tr");
        cell(tr, t.name); cell(tr, g(t.score) + " / " + g(t.max_score));
        const pre = document.createElement("pre"); pre.textContent = t.output || ""; cell(tr, "").appendChild(pre);
        body.appendChild(tr);
      }
      if (d.report) {
        const link = document.getElementById("report-link"); link.textContent = "";
        const a = document.createElement("a"); a.href = d.report; a.textContent = "Full report with heatmaps and hints"; link.appendChild(a);
      }
      if (d.error) { const p = document.createElement("pre"); p.className = "error"; p.textContent = d.error; one.appendChild(p); }
    }
  }

  async function poll(id) {
    // long polling: the server answers when the status changes, or after 25 s
    for (let i = 0; i < 120; i++) {  // bounded: about 50 minutes at most
      const r = await fetch("/api/submissions/" + id + "?wait=25", { credentials: "same-origin" });
      if (!r.ok) return;
      const d = await r.json();
      show(d);
      if (d.status === "graded" || d.status === "error") return;
      await new Promise((ok) => setTimeout(ok, 200));
    }
  }

  function addRow(d) {
    const body = document.querySelector("#history tbody");
    const tr = document.createElement("tr");
    tr.id = "upload-" + d.id; tr.dataset.id = d.id; tr.dataset.status = d.status;
    cell(tr, d.id); cell(tr, d.assignment || ""); cell(tr, d.filename || ""); cell(tr, (d.submitted_at || "").slice(0, 16).replace("T", " "));
    const st = cell(tr, d.status); st.className = "status status-" + d.status;
    cell(tr, "").className = "score";
    const a = document.createElement("a"); a.href = "/submissions/" + d.id; a.textContent = "details"; cell(tr, "").appendChild(a);
    body.insertBefore(tr, body.firstChild);
  }

  const form = document.getElementById("upload");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const message = document.getElementById("upload-message");
      message.textContent = "";
      const r = await fetch("/api/submissions", { method: "POST", body: new FormData(form), headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin" });
      const d = await r.json();
      if (!r.ok) { message.textContent = d.error || ("upload refused (" + r.status + ")"); return; }
      const full = await (await fetch("/api/submissions/" + d.id, { credentials: "same-origin" })).json();
      addRow(full);
      form.reset();
      poll(d.id);
    });
  }
  document.querySelectorAll('[data-status="queued"], [data-status="grading"]').forEach((el) => poll(el.dataset.id));
})();
