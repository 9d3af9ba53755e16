"""The report: one HTML file that opens anywhere (file://, an attachment, a CI artifact).

Everything is inline: no font, script, style sheet or image is fetched, and the page's
Content-Security-Policy says so to the browser too: nothing may load (`default-src
'none'`), and the only script and style allowed are the page's own, pinned by hash. A
text from a record that slipped past escaping still could not run or reach out.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting import __version__
from meta_prompting.errors import UserError
from meta_prompting.store.files import os_reason, write_atomic

if TYPE_CHECKING:
    from meta_prompting.chains.chainfile import Chain
    from meta_prompting.library.goals import Library
    from meta_prompting.report.gather import Project, Toolkit

REPORT_FILE = "report.html"

STYLE = """
:root{--styled:1;color-scheme:light}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;
background:#fafafa}
main{max-width:1400px;margin:0 auto;padding:1rem 1.5rem 4rem}
h1{font-size:1.5rem;margin:.5rem 0}h2{margin-top:2rem;border-bottom:1px solid #ddd}
h3{margin:1.5rem 0 .5rem}h4{margin:1.2rem 0 .4rem}
code,pre{font:13px/1.4 ui-monospace,"SF Mono",Menlo,Consolas,monospace}
pre{white-space:pre-wrap;word-break:break-word;background:#f3f3f3;padding:.6rem;
border-radius:4px;max-height:40rem;overflow:auto}
table{border-collapse:collapse;margin:.5rem 0;background:#fff}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
td.num,th.num{text-align:right}caption{text-align:left;font-weight:bold;padding:.3rem 0}
.meta,.small{color:#555}.small{font-size:12px}
.tag{font-size:12px;font-weight:normal;background:#eee;border-radius:3px;padding:1px 6px}
.problem{color:#8a1c1c}.edited{color:#7a4b00;font-size:12px;font-weight:bold}
.pass{background:#e6f4ea}.fail{background:#fdecea}.none{color:#888}
td.pass summary,td.fail summary{font-weight:bold;cursor:pointer}
.pass summary{color:#1e7e34}.fail summary{color:#b3261e}.split{font-weight:normal;color:#555}
.matrix td{min-width:7rem}.matrix details[open]{min-width:18rem}
.judge{border-top:1px solid #ddd;padding:.3rem 0}
blockquote{margin:.3rem 0;padding:.2rem .6rem;border-left:3px solid #1e7e34;background:#f6fbf7}
blockquote.unverified{border-color:#b3261e;background:#fdf3f2}
.samples{display:grid;grid-template-columns:repeat(auto-fill,minmax(24rem,1fr));gap:1rem}
.sample{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6rem .9rem;
overflow:auto;max-height:48rem;content-visibility:auto;contain-intrinsic-size:auto 30rem}
.group{content-visibility:auto;contain-intrinsic-size:auto 80rem}
.sample[data-pass=pass]{border-top:4px solid #1e7e34}
.sample[data-pass=fail]{border-top:4px solid #b3261e}
.sample header{font-weight:bold;border-bottom:1px solid #eee;padding-bottom:.3rem}
.badge{font-size:12px;border-radius:3px;padding:1px 6px;margin-left:.3rem}
.badge.pass{color:#1e7e34}.badge.fail{color:#b3261e}.badge.edited{background:#fff3d6;
color:#7a4b00}
mark.quote{background:#fff2a8;border-bottom:2px solid #c9a400}
.graph{max-width:100%;height:auto;background:#fff;border:1px solid #ddd;border-radius:6px}
.graph a:hover rect{stroke-width:3}
.stage{border-left:4px solid #bbb;padding-left:1rem;margin-top:1.5rem}
.stage[data-ok=yes]{border-color:#1e7e34}.stage[data-ok=no]{border-color:#b3261e}
#tools button{margin-right:.5rem}
body.only-fail .sample[data-pass=pass],body.only-fail .stage[data-ok=yes]{display:none}
"""

# Runs before the body is parsed: it records any Content-Security-Policy violation on
# the page (a browser test reads it back), then adds the few controls a person uses.
SCRIPT = """
(function () {
  var root = document.documentElement, seen = 0;
  document.addEventListener("securitypolicyviolation", function () {
    seen += 1; root.setAttribute("data-csp-violations", String(seen));
  });
  document.addEventListener("DOMContentLoaded", function () {
    var styled = getComputedStyle(root).getPropertyValue("--styled").trim() === "1";
    root.setAttribute("data-styled", styled ? "yes" : "no");
    var tools = document.getElementById("tools");
    function button(label, act) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = label; b.addEventListener("click", act);
      tools.appendChild(b);
    }
    function all(open) {
      var found = document.querySelectorAll("details");
      for (var i = 0; i < found.length; i++) { found[i].open = open; }
    }
    button("Expand all", function () { all(true); });
    button("Collapse all", function () { all(false); });
    button("Only failures", function () { document.body.classList.toggle("only-fail"); });
    root.setAttribute("data-ready", String(Math.round(performance.now())));
  });
})();
"""


def digest(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()
                                        ).decode("ascii")


CSP = (f"default-src 'none'; script-src '{digest(SCRIPT)}'; style-src '{digest(STYLE)}'; "
       "img-src 'none'; font-src 'none'; connect-src 'none'; media-src 'none'; "
       "object-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'")


class Written(NamedTuple):
    path: Path
    runs: int
    size: int


def write_report(library: Library, project: str, chain: Chain | None = None) -> Written:
    """output/<project>/report.html, made from what the project keeps: no model call."""
    import os
    import stat

    from meta_prompting.report.gather import gather_project
    from meta_prompting.toolkit.assemble import project_dir

    folder = project_dir(library, project)
    try:
        if not stat.S_ISDIR(os.stat(folder).st_mode):
            raise UserError(f"{folder}: not a folder, where the toolkit would be")
    except FileNotFoundError:
        raise UserError(f"--report: {folder} does not exist: build the toolkit (or run the "
                        "chain) first, e.g. --goal GOAL --project "
                        f"{project}") from None
    gathered = gather_project(library, project, folder, chain)
    text = render_page(gathered)
    path = folder / REPORT_FILE
    data = text.encode("utf-8")
    try:
        write_atomic(path, data)
    except OSError as e:
        raise UserError(f"{path}: cannot write the report: {os_reason(e)}") from e
    return Written(path, count_runs(gathered), len(data))


def count_runs(project: Project) -> int:
    kits = [project.toolkit] if project.toolkit else [
        s.toolkit for s in (project.chain.stages if project.chain else ()) if s.toolkit]
    return sum(len(g.runs) for k in kits if k for g in k.groups)


def render_page(project: Project) -> str:
    from meta_prompting.models.keys import scrub_secrets
    from meta_prompting.report.markdown import make_renderer
    from meta_prompting.report.views import esc, toolkit_html

    md = make_renderer()
    kits: list[Toolkit] = []
    body = [f"<h1>Report: {esc(project.name)}</h1>",
            f'<p class="meta">Made {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by '
            f"meta-prompting {esc(__version__)} from <code>{esc(project.folder)}</code>. "
            "Nothing in this page loads from the network.</p>", '<div id="tools"></div>']
    if project.chain is not None:
        from meta_prompting.report.graph import render_graph, stage_id

        chain = project.chain
        body.append(f"<h2>Chain{': ' + esc(chain.description) if chain.description else ''}"
                    f'</h2><p class="meta">From <code>{esc(chain.source)}</code></p>')
        body += [f'<p class="problem">{esc(p)}</p>' for p in chain.problems]
        body.append(render_graph(chain.stages))
        for i, stage in enumerate(chain.stages):
            ok = "yes" if stage.status in ("ran", "cached") else "no"
            after = ", ".join(f"{a}" + (f" (section “{s}”)" if s else "")
                              for a, s in stage.after) or "nothing"
            body.append(f'<section class="stage" id="{stage_id(i)}" data-ok="{ok}">'
                        f"<h3>Stage {esc(stage.name)} · {esc(stage.goal)} · "
                        f"<span class=\"status\">{esc(stage.status)}</span></h3>"
                        f'<p class="meta">Comes after: {esc(after)}'
                        + (" · graded" if stage.grade else "")
                        + (f" · hands on run <code>{esc(stage.handed)}</code>"
                           if stage.handed else "") + "</p>"
                        + (f'<p class="problem">{esc(stage.reason)}</p>' if stage.reason
                           else ""))
            if stage.toolkit is not None:
                kits.append(stage.toolkit)
                body.append(toolkit_html(md, stage.toolkit, stage_id(i)))
            else:
                body.append('<p class="meta">No folder for this stage yet.</p>')
            body.append("</section>")
    elif project.toolkit is not None:
        kits.append(project.toolkit)
        body.append("<h2>Toolkit</h2>" + toolkit_html(md, project.toolkit, "toolkit"))
    body.insert(2, _totals(kits))
    page = "\n".join(body)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="referrer" content="no-referrer">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>Report: {esc(project.name)}</title>\n"
            f"<script>{SCRIPT}</script>\n<style>{STYLE}</style>\n</head>\n<body><main>\n"
            f"{scrub_secrets(page)}\n</main></body></html>\n")


def _totals(kits: list[Toolkit]) -> str:
    from meta_prompting.report.views import cost_of, number

    runs = [r for k in kits for g in k.groups for r in g.runs]
    tokens = [r.tokens for r in runs if r.tokens is not None]
    judged = [j.tokens for r in runs for c in r.cards for j in c.judges if j.tokens is not None]
    costs = [c for r in runs if (c := cost_of(r.record)) is not None]
    cards = [c for r in runs for c in r.cards if c.passed is not None]
    cost = f"${sum(costs):.4f} ({len(costs)} of {len(runs)} runs record one)" if costs else \
        "not recorded"
    return (f'<p class="meta"><b>{len(runs)}</b> runs · run tokens '
            f"<b>{number(sum(tokens) if tokens else None)}</b> · judge tokens "
            f"<b>{number(sum(judged) if judged else None)}</b> · cost {cost} · scorecards "
            f"<b>{sum(bool(c.passed) for c in cards)}</b> of <b>{len(cards)}</b> pass · "
            f"<b>{sum(r.edited for r in runs)}</b> answers edited by hand</p>")
