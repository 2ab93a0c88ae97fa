/**
 * The live cluster page: one self-contained document (no CDN, no framework, no build step),
 * fed by `/events`. Nodes grouped by service and region with their state, load against their
 * soft and hard limits, lease left and sessions; the recent changes as they happen; the islb
 * instances serving. Everything from the bus is written with textContent, never as HTML.
 * (The script avoids template literals so this file can hold it in one.)
 */
export const CLUSTER_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>islb cluster</title>
<style>
  :root { --bg:#f6f7f9; --panel:#fff; --ink:#1d2330; --mute:#6b7385; --line:#e3e6ec; --ok:#1f9d55; --warn:#d98b00; --bad:#d64545; --acc:#3563e9; --bar:#e9ecf2; }
  @media (prefers-color-scheme: dark) { :root { --bg:#12151b; --panel:#1a1e26; --ink:#e6e9ef; --mute:#9099ab; --line:#2a303b; --bar:#2a303b; } }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--ink); }
  header { display:flex; flex-wrap:wrap; align-items:center; gap:12px 20px; padding:12px 20px; background:var(--panel); border-bottom:1px solid var(--line); position:sticky; top:0; z-index:1; }
  header h1 { font-size:18px; margin:0; letter-spacing:.02em; }
  .dot { display:inline-block; width:9px; height:9px; border-radius:50%; background:var(--mute); margin-right:6px; vertical-align:middle; }
  .dot.live { background:var(--ok); } .dot.down { background:var(--bad); }
  .meta { color:var(--mute); font-size:13px; }
  .chips { display:flex; gap:6px; flex-wrap:wrap; }
  .chip { border:1px solid var(--line); border-radius:999px; padding:1px 9px; font-size:12px; color:var(--mute); }
  .chip.self { border-color:var(--acc); color:var(--acc); }
  main { display:grid; grid-template-columns:minmax(0,1fr) 310px; gap:16px; padding:16px 20px; }
  @media (max-width: 1000px) { main { grid-template-columns:1fr; } }
  .summary { display:flex; gap:10px; margin-bottom:12px; flex-wrap:wrap; }
  .stat { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:8px 14px; min-width:110px; }
  .stat b { display:block; font-size:20px; } .stat span { color:var(--mute); font-size:12px; }
  section.service { background:var(--panel); border:1px solid var(--line); border-radius:10px; margin-bottom:16px; overflow:hidden; }
  section.service > h2 { font-size:15px; margin:0; padding:10px 14px; border-bottom:1px solid var(--line); display:flex; justify-content:space-between; }
  h3 { font-size:12px; text-transform:uppercase; letter-spacing:.06em; color:var(--mute); margin:10px 14px 4px; }
  .scroll { overflow-x:auto; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:5px 14px; border-top:1px solid var(--line); white-space:nowrap; }
  th { font-size:11px; color:var(--mute); font-weight:600; text-transform:uppercase; letter-spacing:.05em; border-top:none; }
  td.nid { font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:13px; }
  .state { font-size:11px; font-weight:600; padding:1px 7px; border-radius:4px; text-transform:uppercase; }
  .state.serving { background:rgba(31,157,85,.14); color:var(--ok); }
  .state.draining, .state.cordoned, .state.drained { background:rgba(217,139,0,.16); color:var(--warn); }
  .state.unknown { background:var(--bar); color:var(--mute); }
  .bar { position:relative; width:110px; height:10px; background:var(--bar); border-radius:5px; display:inline-block; vertical-align:middle; overflow:hidden; }
  .bar > i { position:absolute; left:0; top:0; bottom:0; background:var(--ok); border-radius:5px; }
  .bar.over > i { background:var(--warn); } .bar.full > i { background:var(--bad); }
  .bar > s { position:absolute; top:0; bottom:0; width:2px; background:var(--ink); opacity:.45; }
  .num { font-variant-numeric:tabular-nums; color:var(--mute); font-size:12px; margin-left:6px; }
  .lease.low { color:var(--bad); font-weight:600; }
  aside { background:var(--panel); border:1px solid var(--line); border-radius:10px; align-self:start; position:sticky; top:72px; max-height:calc(100vh - 90px); display:flex; flex-direction:column; }
  aside h2 { font-size:15px; margin:0; padding:10px 14px; border-bottom:1px solid var(--line); }
  #changes { list-style:none; margin:0; padding:0; overflow:auto; }
  #changes li { padding:6px 14px; border-bottom:1px solid var(--line); font-size:13px; display:grid; grid-template-columns:62px 74px 1fr; gap:6px; }
  #changes time { color:var(--mute); font-variant-numeric:tabular-nums; font-size:12px; }
  .kind { font-size:11px; font-weight:600; text-transform:uppercase; }
  .kind.up, .kind.placed { color:var(--ok); } .kind.draining, .kind.moved, .kind.cordoned { color:var(--warn); } .kind.down, .kind.expired, .kind.released { color:var(--bad); }
  .empty { padding:24px 14px; color:var(--mute); }
</style>
</head>
<body>
<header>
  <h1>islb</h1>
  <span id="conn" class="meta"><span class="dot"></span>connecting…</span>
  <span id="self" class="meta"></span>
  <span class="meta">instances:</span><span id="instances" class="chips"></span>
</header>
<main>
  <div>
    <div class="summary" id="summary"></div>
    <div id="services"><div class="empty">No nodes registered yet.</div></div>
  </div>
  <aside><h2>Recent changes</h2><ul id="changes"></ul></aside>
</main>
<script>
(function () {
  "use strict";
  var nodes = new Map();
  var offset = 0; // server clock minus ours
  var changes = [];
  var MAX_CHANGES = 200;
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
  function fmt(n) { return n >= 1e9 ? (n / 1e9).toFixed(1) + "G" : n >= 1e6 ? (n / 1e6).toFixed(1) + "M" : n >= 1e3 ? (n / 1e3).toFixed(1) + "k" : String(Math.round(n * 100) / 100); }
  function pct(x) { return Math.round(x * 100) + "%"; }
  function bar(value, soft, hard, label) {
    var wrap = el("span");
    var top = hard || (soft ? soft * 1.25 : 0) || Math.max(value, 1);
    var b = el("span", "bar");
    if (hard && value >= hard) b.className += " full"; else if (soft && value >= soft) b.className += " over";
    var fill = el("i"); fill.style.width = Math.min(100, (value / top) * 100) + "%"; b.appendChild(fill);
    if (soft) { var m = el("s"); m.style.left = Math.min(99, (soft / top) * 100) + "%"; m.title = "soft limit " + fmt(soft); b.appendChild(m); }
    b.title = label + ": " + fmt(value) + (soft ? ", soft " + fmt(soft) : "") + (hard ? ", hard " + fmt(hard) : "");
    wrap.appendChild(b);
    wrap.appendChild(el("span", "num", label === "cpu" ? pct(value) + (hard ? " / " + pct(hard) : "") : fmt(value) + (hard ? " / " + fmt(hard) : soft ? " / " + fmt(soft) : "")));
    return wrap;
  }
  function leaseLeft(n) { return Math.max(0, n.expiresAt - (Date.now() + offset)); }
  function render() {
    var byService = new Map();
    var serving = 0, draining = 0;
    nodes.forEach(function (n) {
      if (!byService.has(n.service)) byService.set(n.service, new Map());
      var regions = byService.get(n.service), region = n.region || n.dc || "(no region)";
      if (!regions.has(region)) regions.set(region, []);
      regions.get(region).push(n);
      if (n.state === "draining") draining++; else serving++;
    });
    var summary = document.getElementById("summary");
    summary.replaceChildren();
    [[nodes.size, "nodes"], [serving, "serving"], [draining, "draining"], [byService.size, "services"]].forEach(function (s) {
      var d = el("div", "stat"); d.appendChild(el("b", "", String(s[0]))); d.appendChild(el("span", "", s[1])); summary.appendChild(d);
    });
    var root = document.getElementById("services");
    root.replaceChildren();
    if (nodes.size === 0) { root.appendChild(el("div", "empty", "No nodes registered yet.")); return; }
    Array.from(byService.keys()).sort().forEach(function (service) {
      var regions = byService.get(service), count = 0;
      regions.forEach(function (l) { count += l.length; });
      var sec = el("section", "service"); sec.dataset.service = service;
      var h = el("h2"); h.appendChild(el("span", "", service)); h.appendChild(el("span", "meta", count + (count === 1 ? " node" : " nodes"))); sec.appendChild(h);
      Array.from(regions.keys()).sort().forEach(function (region) {
        sec.appendChild(el("h3", "", region));
        var t = el("table"), head = el("tr");
        ["node", "state", "cpu", "sessions", "tracks", "bandwidth", "lease left", "address"].forEach(function (c) { head.appendChild(el("th", "", c)); });
        t.appendChild(head);
        regions.get(region).sort(function (a, b) { return a.nid < b.nid ? -1 : 1; }).forEach(function (n) {
          var tr = el("tr"); tr.dataset.nid = n.nid;
          tr.appendChild(el("td", "nid", n.nid));
          var st = el("td"); st.appendChild(el("span", "state " + n.state, n.state)); tr.appendChild(st);
          var c = el("td"); c.appendChild(bar(n.load.cpu, n.soft.cpu, n.hard.cpu, "cpu")); tr.appendChild(c);
          var s = el("td"); s.appendChild(bar(n.load.sessions, n.soft.sessions, n.hard.sessions, "sessions")); tr.appendChild(s);
          tr.appendChild(el("td", "num", fmt(n.load.tracks)));
          tr.appendChild(el("td", "num", n.load.bandwidth ? fmt(n.load.bandwidth) + "bit/s" : "–"));
          var lease = el("td", "lease"); lease.dataset.nid = n.nid; tr.appendChild(lease);
          var a = el("td", "num", n.addr || ""); a.title = n.addr || ""; tr.appendChild(a);
          t.appendChild(tr);
        });
        var box = el("div", "scroll"); box.appendChild(t); sec.appendChild(box);
      });
      root.appendChild(sec);
    });
    tickLeases();
  }
  function tickLeases() {
    document.querySelectorAll("td.lease").forEach(function (td) {
      var n = nodes.get(td.dataset.nid); if (!n) return;
      var left = leaseLeft(n);
      td.textContent = (left / 1000).toFixed(1) + " s";
      td.className = "lease" + (left < n.leaseMs / 3 ? " low" : "");
    });
  }
  function addChanges(list) {
    var ul = document.getElementById("changes");
    list.forEach(function (c) {
      changes.push(c);
      var li = el("li");
      li.appendChild(el("time", "", new Date(c.at - offset).toLocaleTimeString([], { hour12: false })));
      li.appendChild(el("span", "kind " + c.type, c.type));
      var what = c.sid ? c.sid + " → " + c.nid + (c.from ? " (from " + c.from + ")" : "") : c.nid + " · " + c.service + (c.region ? " · " + c.region : "");
      li.appendChild(el("span", "", what + (c.detail ? " — " + c.detail : "")));
      ul.insertBefore(li, ul.firstChild);
    });
    while (ul.children.length > MAX_CHANGES) ul.removeChild(ul.lastChild);
  }
  function setInstances(list) {
    var box = document.getElementById("instances"); box.replaceChildren();
    list.forEach(function (i) { box.appendChild(el("span", "chip" + (i.self ? " self" : ""), i.nid + (i.dc ? " · " + i.dc : ""))); });
  }
  var pending = false;
  function later() { if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; render(); }); } }
  function connect() {
    var es = new EventSource("events");
    var conn = document.getElementById("conn");
    es.addEventListener("open", function () { conn.replaceChildren(el("span", "dot live"), document.createTextNode("live")); });
    es.addEventListener("error", function () { conn.replaceChildren(el("span", "dot down"), document.createTextNode("reconnecting…")); });
    es.addEventListener("snapshot", function (m) {
      var d = JSON.parse(m.data);
      offset = d.now - Date.now();
      nodes = new Map(); d.nodes.forEach(function (n) { nodes.set(n.nid, n); });
      var self = d.self || {}, parts = [];
      Object.keys(self).forEach(function (k) {
        var v = self[k];
        if (v === undefined || v === "") return;
        parts.push(k === "version" ? "v" + v : k === "store" ? v : k === "nid" ? "this instance " + v : k + " " + v);
      });
      document.getElementById("self").textContent = parts.join(" · ");
      setInstances(d.instances || []);
      document.getElementById("changes").replaceChildren(); changes = [];
      addChanges(d.changes || []);
      render();
    });
    es.addEventListener("batch", function (m) {
      var d = JSON.parse(m.data);
      offset = d.now - Date.now();
      d.nodes.forEach(function (n) { nodes.set(n.nid, n); });
      d.removed.forEach(function (nid) { nodes.delete(nid); });
      addChanges(d.changes);
      later();
    });
    es.addEventListener("instances", function (m) { setInstances(JSON.parse(m.data)); });
  }
  setInterval(tickLeases, 250);
  connect();
})();
</script>
</body>
</html>
`;
