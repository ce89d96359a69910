"""The page's stylesheet and its one small script, inlined into every scorecard.

Both are constants (no template files to ship as package data), and the page's
Content-Security-Policy allows exactly these two by hash and nothing else: no request
leaves the page, and markup that slipped in unescaped could not run a script.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Final

STYLE: Final = """
:root {
  --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --paper: #ffffff; --ground: #f3f4f6;
  --navy: #1f3a5f; --met: #1a7f37; --met-bg: #dcfce7; --near: #b26a00; --near-bg: #fef3c7;
  --missed: #c62828; --missed-bg: #fee2e2; --none-bg: #eef0f3; --bench: #7c3aed;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--ground); color: var(--ink); font-size: 14px; line-height: 1.45;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "DejaVu Sans", sans-serif;
}
a { color: var(--navy); }
.masthead { background: var(--navy); color: #fff; }
.masthead .inner {
  max-width: 1240px; margin: 0 auto; padding: 18px 24px 16px; display: flex; gap: 24px;
  align-items: flex-end; justify-content: space-between; flex-wrap: wrap;
}
.masthead .facts { line-height: 1.6; }
.masthead h1 { margin: 0 0 4px; font-size: 22px; font-weight: 650; letter-spacing: .2px; }
.masthead .facts { margin: 0; color: #cbd5e1; font-size: 13px; }
.masthead .facts b { color: #fff; font-weight: 600; }
.picker { display: none; font-size: 13px; color: #cbd5e1; }
.js .picker { display: block; }
.picker select {
  margin-left: 6px; font: inherit; font-size: 14px; padding: 5px 8px; border-radius: 6px;
  border: 1px solid #94a3b8; min-width: 240px; color: var(--ink); background: #fff;
}
nav.scopes { max-width: 1240px; margin: 0 auto; padding: 12px 24px 0; }
.js nav.scopes { display: none; }
nav.scopes a {
  display: inline-block; margin: 0 6px 6px 0; padding: 3px 10px; border-radius: 999px;
  background: var(--paper); border: 1px solid var(--line); text-decoration: none; font-size: 13px;
}
main { max-width: 1240px; margin: 0 auto; padding: 8px 24px 32px; }
.scope { padding-top: 12px; }
.scope + .scope { border-top: 2px solid var(--line); margin-top: 24px; }
.js .scope + .scope { border-top: 0; margin-top: 0; }
.scope-head {
  display: flex; align-items: baseline; gap: 12px; flex-wrap: wrap; margin: 8px 0 14px;
}
.scope-head h2 { margin: 0; font-size: 21px; }
.scope-head .about { color: var(--muted); }
.legend {
  display: flex; gap: 14px; flex-wrap: wrap; color: var(--muted); font-size: 12px;
  margin-left: auto;
}
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.legend i { width: 18px; height: 0; border-top: 2px solid var(--muted); display: inline-block; }
.legend i.swatch { width: 10px; height: 10px; border: 0; border-radius: 2px; }
.legend i.met { background: var(--met); }
.legend i.near { background: var(--near); }
.legend i.missed { background: var(--missed); }
.legend i.target { border-top: 2px dashed var(--muted); }
.legend i.benchmark { border-top: 2px dotted var(--bench); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: 14px; }
.card {
  background: var(--paper); border: 1px solid var(--line); border-top: 4px solid #cbd5e1;
  border-radius: 8px; padding: 12px 14px 8px; display: flex; flex-direction: column; min-width: 0;
}
.card.met { border-top-color: var(--met); }
.card.near { border-top-color: var(--near); }
.card.missed { border-top-color: var(--missed); }
.card header { display: flex; justify-content: space-between; gap: 8px; align-items: flex-start; }
.card h3 { margin: 0; font-size: 13px; font-weight: 600; color: #374151; }
.card .value { margin: 6px 0 0; font-size: 28px; font-weight: 700; line-height: 1.1;
  font-variant-numeric: tabular-nums; }
.card .value small { font-size: 12px; font-weight: 500; color: var(--muted); margin-left: 4px; }
.card .meta { margin: 2px 0 8px; color: var(--muted); font-size: 12px; }
.card dl { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0 0 6px; font-size: 12px; }
.card dt { color: var(--muted); }
.card dd { margin: 0; font-variant-numeric: tabular-nums; white-space: nowrap; }
.axis { display: flex; justify-content: space-between; gap: 6px; color: #9ca3af;
  font-size: 11px; }
.axis .range { color: var(--muted); }
svg.spark { width: 100%; height: auto; display: block; margin-top: auto; overflow: visible; }
svg.spark.mini { width: 120px; }
svg.spark .pt { opacity: 0; }
svg.spark:hover .pt { opacity: .8; }
svg.bar { width: 90px; height: 10px; vertical-align: middle; }
.badge {
  display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 11.5px;
  font-weight: 600; white-space: nowrap; background: var(--none-bg); color: #4b5563;
}
.badge.met, .badge.positive, .badge.on_time { background: var(--met-bg); color: #166534; }
.badge.near, .badge.medium, .badge.open { background: var(--near-bg); color: #92400e; }
.badge.missed, .badge.high, .badge.negative, .badge.overdue { background: var(--missed-bg);
  color: #991b1b; }
.badge.low { background: #e0e7ff; color: #3730a3; }
.good { color: var(--met); }
.bad { color: var(--missed); }
.flat { color: var(--muted); }
.panel {
  background: var(--paper); border: 1px solid var(--line); border-radius: 8px;
  padding: 14px 16px; margin-top: 16px;
}
.panel h3 { margin: 0 0 4px; font-size: 16px; display: flex; align-items: center; gap: 8px; }
.panel h3 .count { font-size: 12px; font-weight: 600; color: var(--muted);
  background: var(--none-bg); border-radius: 999px; padding: 1px 8px; }
.panel .note { margin: 0 0 10px; color: var(--muted); font-size: 12.5px; }
.empty { color: var(--muted); font-style: italic; margin: 6px 0; }
.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
table.glance td:first-child { min-width: 220px; }
th { text-align: left; font-size: 11.5px; text-transform: uppercase; letter-spacing: .4px;
  color: var(--muted); font-weight: 600; padding: 6px 8px; border-bottom: 1px solid var(--line); }
td { padding: 7px 8px; border-bottom: 1px solid #f1f2f4; vertical-align: top; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
td .sub { display: block; color: var(--muted); font-size: 12px; }
td.text { max-width: 460px; }
.dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px;
  background: #cbd5e1; vertical-align: middle; }
.dot.met { background: var(--met); }
.dot.near { background: var(--near); }
.dot.missed { background: var(--missed); }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.grid2 > .panel { margin-top: 16px; min-width: 0; }
.comments { list-style: none; padding: 0; margin: 0; }
.comments li { border-left: 3px solid #cbd5e1; padding: 4px 10px; margin: 8px 0; }
.comments li.negative { border-left-color: var(--missed); }
.comments li.positive { border-left-color: var(--met); }
.comments blockquote { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.comments .sub { color: var(--muted); font-size: 12px; }
.chip { display: inline-block; padding: 0 6px; margin-right: 4px; border-radius: 4px;
  background: var(--none-bg); font-size: 11.5px; color: #374151; }
footer { max-width: 1240px; margin: 0 auto; padding: 0 24px 40px; color: var(--muted);
  font-size: 12.5px; }
footer h2 { font-size: 14px; color: var(--ink); margin: 20px 0 6px; }
footer table { max-width: 720px; }
@media (max-width: 900px) { .grid2 { grid-template-columns: 1fr; } }
@media print {
  body { background: #fff; }
  .picker, nav.scopes { display: none !important; }
  .scope[hidden] { display: block !important; }
  .scope { break-before: page; }
}
""".strip()

SCRIPT: Final = """
(function () {
  var root = document.documentElement;
  root.classList.add("js");
  var scopes = Array.prototype.slice.call(document.querySelectorAll("section.scope"));
  var picker = document.getElementById("scope-picker");
  var title = document.title;
  if (!scopes.length || !picker) { return; }
  function show() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id ? document.getElementById(id) : null;
    var scope = target ? target.closest("section.scope") : null;
    if (!scope) { scope = scopes[0]; }
    scopes.forEach(function (s) { s.hidden = s !== scope; });
    picker.value = scope.id;
    document.title = scope === scopes[0] ? title : scope.dataset.name + " | " + title;
    if (target && target !== scope) { target.scrollIntoView(); }
  }
  picker.addEventListener("change", function () { location.hash = picker.value; });
  window.addEventListener("hashchange", show);
  show();
})();
""".strip()


def csp_hash(text: str) -> str:
    """The ``'sha256-…'`` source a Content-Security-Policy uses to allow one inline block."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; "
    f"style-src {csp_hash(STYLE)}; "
    f"script-src {csp_hash(SCRIPT)}; "
    "img-src 'none'; base-uri 'none'; form-action 'none'"
)
"""Nothing but the page's own style and script: no fetch, image, font or frame."""
