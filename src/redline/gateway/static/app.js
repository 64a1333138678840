// Redline dashboard: polls /ui/api/status once a second. Everything read
// from the gateway goes into the page as text (textContent), never as HTML.
"use strict";

(function () {
  const POLL_MS = 1000;
  const charts = {};
  const $ = (id) => document.getElementById(id);
  const fmt = new Intl.NumberFormat("en");

  function text(id, value) {
    const el = $(id);
    if (el) el.textContent = value;
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    if (seconds < 3600) return (seconds / 60).toFixed(1) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  function cell(row, value, cls) {
    const td = document.createElement("td");
    td.textContent = value;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function makeCharts() {
    if (typeof Chart === "undefined") return;
    Chart.defaults.animation = false;
    charts.events = new Chart($("chart-events"), {
      type: "line",
      data: { labels: [], datasets: [
        { label: "in (events/s)", data: [], borderColor: "#2563eb", pointRadius: 0, tension: 0.2 },
        { label: "out (deliveries/s, all destinations)", data: [], borderColor: "#16a34a", pointRadius: 0, tension: 0.2 },
        { label: "dropped (events/s)", data: [], borderColor: "#b91c1c", pointRadius: 0, tension: 0.2 },
      ] },
      options: { maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
    });
    charts.findings = new Chart($("chart-findings"), {
      type: "bar",
      data: { labels: [], datasets: [{ label: "findings", data: [], backgroundColor: "#f59e0b" }] },
      options: { maintainAspectRatio: false, indexAxis: "y" },
    });
    charts.destinations = new Chart($("chart-destinations"), {
      type: "bar",
      data: { labels: [], datasets: [
        { label: "queue", data: [], backgroundColor: "#2563eb" },
        { label: "dead letters", data: [], backgroundColor: "#b91c1c" },
      ] },
      options: { maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
    });
  }

  function render(s) {
    $("report-banner").hidden = s.policy.mode !== "report";
    const ready = $("ready");
    ready.textContent = s.ready ? "ready" : "not ready";
    ready.className = "badge " + (s.ready ? "ok" : "bad");
    text("version", s.version);
    text("uptime", age(s.uptime_seconds));

    const t = s.totals;
    text("total-received", fmt.format(t.received));
    text("total-accepted", fmt.format(t.accepted));
    text("total-dropped", fmt.format(t.dropped));
    text("total-invalid", fmt.format(t.invalid));
    text("total-forwarded", fmt.format(t.forwarded));
    text("outbox-depth", fmt.format(s.outbox.depth));
    text("outbox-age", age(s.outbox.oldest_age_seconds));

    if (charts.events) {
      const series = s.series.slice(-300);
      charts.events.data.labels = series.map((p) => new Date(p.t * 1000).toLocaleTimeString());
      charts.events.data.datasets[0].data = series.map((p) => p.in);
      charts.events.data.datasets[1].data = series.map((p) => p.out);
      charts.events.data.datasets[2].data = series.map((p) => p.dropped);
      charts.events.update();
      charts.findings.data.labels = s.findings.by_type.map((f) => f.action + " · " + f.detector);
      charts.findings.data.datasets[0].data = s.findings.by_type.map((f) => f.count);
      charts.findings.update();
      charts.destinations.data.labels = s.destinations.map((d) => d.route);
      charts.destinations.data.datasets[0].data = s.destinations.map((d) => d.queue);
      charts.destinations.data.datasets[1].data = s.destinations.map((d) => d.dead_letters);
      charts.destinations.update();
    }

    $("names-capped").hidden = !s.findings.names_capped;
    const props = $("findings-by-property").tBodies[0];
    props.replaceChildren();
    for (const f of s.findings.by_property) {
      const row = document.createElement("tr");
      cell(row, f.event);
      cell(row, f.property || "(event)");
      cell(row, f.action);
      cell(row, f.detector);
      cell(row, fmt.format(f.count), "num");
      props.appendChild(row);
    }

    const dests = $("destination-table").tBodies[0];
    dests.replaceChildren();
    for (const d of s.destinations) {
      const row = document.createElement("tr");
      row.dataset.route = d.route;
      cell(row, d.route);
      cell(row, d.type);
      cell(row, fmt.format(d.queue), "num queue");
      cell(row, age(d.oldest_age_seconds), "num");
      cell(row, fmt.format(d.delivered), "num delivered");
      cell(row, fmt.format(d.retried), "num retried");
      cell(row, fmt.format(d.dead_letters), "num dead");
      const failing = d.consecutive_failures > 0;
      cell(row, failing ? "failing: " + (d.last_error || "error") : "ok", failing ? "failing" : "healthy");
      const reasons = document.createElement("td");
      for (const r of d.dead_letter_reasons) {
        const line = document.createElement("div");
        line.textContent = r.count + " × " + r.reason;
        reasons.appendChild(line);
      }
      row.appendChild(reasons);
      dests.appendChild(row);
    }

    text("policy-mode", s.policy.mode);
    text("policy-digest", s.policy.digest);
    const checks = $("checks");
    checks.replaceChildren();
    for (const c of s.checks) {
      const li = document.createElement("li");
      li.textContent = c.name + ": " + (c.ok ? "ok" : c.reason);
      li.className = c.ok ? "healthy" : "failing";
      checks.appendChild(li);
    }
    document.body.dataset.updated = String(s.generated_at);
  }

  async function poll() {
    try {
      const response = await fetch("/ui/api/status", { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) { window.location.reload(); return; }
      if (!response.ok) throw new Error("status " + response.status);
      render(await response.json());
      $("stale-banner").hidden = true;
    } catch (e) {
      $("stale-banner").hidden = false;
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  makeCharts();
  poll();
})();
