"""A chain as a picture: inline SVG, stages as boxes coloured by status, hand-offs as
arrows labelled with what is handed on. Pure: no script, no font, nothing fetched."""

from __future__ import annotations

from html import escape

from meta_prompting.report.gather import Stage

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 190, 62, 90, 28, 16
# (fill, stroke, dashed): a stage that could not run is drawn lighter and dashed.
COLOURS = {
    "ran": ("#e6f4ea", "#1e7e34", False), "cached": ("#e6f4ea", "#1e7e34", False),
    "failed": ("#fdecea", "#b3261e", False), "failed grade": ("#fdecea", "#b3261e", False),
    "blocked": ("#f1f1f1", "#777777", True), "would run": ("#ffffff", "#777777", True),
    "not run": ("#ffffff", "#777777", True),
}
UNKNOWN = ("#fff8e1", "#8a6d00", True)


def stage_id(index: int) -> str:
    return f"stage-{index}"


def depths(stages: tuple[Stage, ...]) -> dict[str, int]:
    """Each stage's column: one past the deepest stage it comes after (stages are in an
    order where each comes after its `after`; a name the chain lacks counts as none)."""
    found: dict[str, int] = {}
    for stage in stages:
        found[stage.name] = 1 + max((found.get(a, -1) for a, _ in stage.after), default=-1)
    return found


def render_graph(stages: tuple[Stage, ...]) -> str:
    column = depths(stages)
    rows: dict[int, int] = {}
    place: dict[str, tuple[int, int]] = {}
    for stage in stages:
        col = column[stage.name]
        row = rows.get(col, 0)
        rows[col] = row + 1
        place[stage.name] = (PAD + col * (BOX_W + GAP_X), PAD + row * (BOX_H + GAP_Y))
    width = PAD * 2 + (max(column.values(), default=0) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + max(rows.values(), default=1) * (BOX_H + GAP_Y) - GAP_Y
    out = [f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" role="img" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'aria-label="The chain\'s stages and hand-offs">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'fill="#555555"/></marker></defs>']
    for stage in stages:
        for upstream, section in stage.after:
            if upstream in place:
                out.append(_edge(place[upstream], place[stage.name], section))
    for i, stage in enumerate(stages):
        out.append(_box(i, stage, *place[stage.name]))
    out.append("</svg>")
    return "\n".join(out)


def _edge(start: tuple[int, int], end: tuple[int, int], section: str | None) -> str:
    x1, y1 = start[0] + BOX_W, start[1] + BOX_H // 2
    x2, y2 = end[0], end[1] + BOX_H // 2
    mid = (x1 + x2) // 2
    label = section if section else "whole answer"
    return (f'<g class="edge"><path d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2 - 2},{y2}" '
            f'fill="none" stroke="#555555" stroke-width="1.5" marker-end="url(#arrow)"/>'
            f'<text x="{mid}" y="{(y1 + y2) // 2 - 4}" text-anchor="middle" font-size="11" '
            f'fill="#333333"><title>{escape(label)}</title>{escape(_short(label, 16))}</text>'
            "</g>")


def _box(index: int, stage: Stage, x: int, y: int) -> str:
    fill, stroke, dashed = COLOURS.get(stage.status, UNKNOWN)
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    title = f"{stage.name} ({stage.goal}): {stage.status}"
    if stage.reason:
        title += f": {stage.reason}"
    return (f'<a href="#{stage_id(index)}" class="node" data-status="{escape(stage.status)}">'
            f"<title>{escape(title)}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="2"{dash}/>'
            f'<text x="{x + 12}" y="{y + 22}" font-size="14" font-weight="bold" '
            f'fill="#111111">{escape(_short(stage.name, 22))}</text>'
            f'<text x="{x + 12}" y="{y + 40}" font-size="11" fill="#444444">'
            f"{escape(_short(stage.goal, 28))}</text>"
            f'<text x="{x + 12}" y="{y + 55}" font-size="11" font-weight="bold" '
            f'fill="{stroke}">{escape(stage.status.upper())}</text></a>')


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
