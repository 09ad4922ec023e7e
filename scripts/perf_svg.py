"""Small self-contained SVG charts for scripts/perf-report: horizontal bar charts (plain or
grouped, with an optional reference line) and a line chart. Standard library only; the output
renders the same in browsers and on GitHub (white background, generic fonts, no scripts)."""

import math
from xml.sax.saxutils import escape

FONT = "Helvetica, Arial, sans-serif"
WIDTH = 760
CHAR = 6.6  # rough width of one 12 px character, for layout
INK = "#24292f"
MUTED = "#57606a"
GRID = "#d0d7de"

# One colour per series, the crate itself in the strongest one.
COLORS = {
    "ureq-futures": "#d9480f",
    "ureq": "#1c7ed6",
    "reqwest": "#7048e8",
    "python": "#2b8a3e",
    "peer": "#868e96",
    "p50": "#d9480f",
    "p90": "#f08c00",
    "p99": "#fab005",
}


def _text(x, y, s, size=12, anchor="start", weight="normal", fill=INK):
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'font-weight="{weight}" fill="{fill}">{escape(str(s))}</text>'
    )


def nice_ticks(top, most=7):
    """Round tick values from 0 to at least `top`, at most `most` intervals."""
    if top <= 0:
        return [0, 1]
    mag = 10 ** math.floor(math.log10(top / most))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10, 20) if math.ceil(top / (m * mag)) <= most)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _fmt_tick(v):
    if v >= 1000:
        return f"{v:,.0f}"
    if v == int(v):
        return f"{int(v)}"
    return f"{v:g}"


def _document(height, body):
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="{FONT}">\n'
        f'<rect width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )


def bar_chart(title, subtitle, groups, unit, value_fmt, reference=None, legend=None):
    """Horizontal bars.

    groups: [(group label or None, [(bar label, value, colour key, note or None), ...]), ...]
    unit: the axis caption; value_fmt: value -> text printed after the bar;
    reference: optional (value, label) drawn as a dashed vertical line;
    legend: optional [(label, colour key)] shown under the title.
    """
    bar_h, gap, group_gap = 20, 6, 14
    labels = [b[0] for _, bars in groups for b in bars] + [g for g, _ in groups if g]
    left = 24 + min(300, max(len(s) for s in labels) * CHAR)
    right = WIDTH - 150
    top = 64 if subtitle else 46
    if legend:
        top += 22
    values = [b[1] for _, bars in groups for b in bars]
    vmax = max(values + ([reference[0]] if reference else []))
    ticks = nice_ticks(vmax * 1.02)
    scale = (right - left) / ticks[-1]

    body = [_text(16, 24, title, size=15, weight="bold")]
    if subtitle:
        body.append(_text(16, 44, subtitle, size=12, fill=MUTED))
    if legend:
        x = 16
        y = top - 14
        for label, key in legend:
            body.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{COLORS[key]}"/>')
            body.append(_text(x + 17, y, label, size=12))
            x += 17 + len(label) * CHAR + 18

    y = top + 8
    rows = []
    for group, bars in groups:
        if group:
            rows.append(_text(16, y + 12, group, size=12, weight="bold"))
            y += 20
        for label, value, key, note in bars:
            w = max(1.0, value * scale)
            rows.append(_text(left - 8, y + bar_h / 2 + 4, label, anchor="end"))
            rows.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                f'fill="{COLORS.get(key, COLORS["peer"])}"/>'
            )
            text = value_fmt(value) + (f"  {note}" if note else "")
            rows.append(_text(left + w + 6, y + bar_h / 2 + 4, text, fill=INK))
            y += bar_h + gap
        y += group_gap
    plot_bottom = y - group_gap

    grid = []
    for t in ticks:
        x = left + t * scale
        grid.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{plot_bottom:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        grid.append(_text(x, plot_bottom + 16, _fmt_tick(t), size=11, anchor="middle", fill=MUTED))
    grid.append(
        _text((left + right) / 2, plot_bottom + 34, unit, size=12, anchor="middle", fill=MUTED)
    )
    if reference:
        x = left + reference[0] * scale
        grid.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{plot_bottom:.1f}" '
            f'stroke="{INK}" stroke-width="1.5" stroke-dasharray="5,4"/>'
        )
        grid.append(_text(x + 4, top + 2, reference[1], size=11, fill=INK))
    return _document(plot_bottom + 46, body + grid + rows)


def line_chart(title, subtitle, series, x_unit, y_unit, y_min_top=None, markers=(), levels=()):
    """Lines over a shared x axis.

    series: [(label, colour key, [(x, y), ...]), ...]; y_min_top: the y axis reaches at least
    this (so that a flat line looks flat); markers: [(x, label)] drawn as dashed vertical lines;
    levels: [(y, label)] drawn as dotted horizontal lines.
    """
    left, right, top = 70, WIDTH - 30, 64 + 22
    height = 360
    bottom = height - 50
    xs = [x for _, _, pts in series for x, _ in pts]
    ys = [y for _, _, pts in series for _, y in pts]
    xt = nice_ticks(max(xs) if xs else 1)
    yt = nice_ticks(max(max(ys) if ys else 1, y_min_top or 0) * 1.05)
    sx = (right - left) / xt[-1]
    sy = (bottom - top) / yt[-1]

    def px(x, y):
        return left + x * sx, bottom - y * sy

    body = [_text(16, 24, title, size=15, weight="bold")]
    if subtitle:
        body.append(_text(16, 44, subtitle, size=12, fill=MUTED))
    x = 16
    for label, key, _ in series:
        body.append(f'<rect x="{x}" y="{top - 24}" width="12" height="12" fill="{COLORS[key]}"/>')
        body.append(_text(x + 17, top - 14, label))
        x += 17 + len(label) * CHAR + 18
    for t in yt:
        _, y = px(0, t)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, _fmt_tick(t), size=11, anchor="end", fill=MUTED))
    for t in xt:
        x, _ = px(t, 0)
        body.append(_text(x, bottom + 16, _fmt_tick(t), size=11, anchor="middle", fill=MUTED))
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{MUTED}"/>')
    body.append(_text((left + right) / 2, bottom + 36, x_unit, anchor="middle", fill=MUTED))
    body.append(
        f'<text transform="translate(18,{(top + bottom) / 2:.1f}) rotate(-90)" font-size="12" '
        f'text-anchor="middle" fill="{MUTED}">{escape(y_unit)}</text>'
    )
    for mx, label in markers:
        x, _ = px(mx, 0)
        body.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="{MUTED}" '
            f'stroke-dasharray="4,4"/>'
        )
        body.append(_text(x + 4, top + 12, label, size=11, fill=MUTED))
    for ly, label in levels:
        _, y = px(0, ly)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{INK}" '
            f'stroke-dasharray="2,3"/>'
        )
        body.append(_text(right - 4, y + 16, label, size=11, anchor="end", fill=INK))
    for _, key, pts in series:
        if not pts:
            continue
        path = " ".join(f"{a:.1f},{b:.1f}" for a, b in (px(x, y) for x, y in pts))
        body.append(
            f'<polyline points="{path}" fill="none" stroke="{COLORS[key]}" stroke-width="2"/>'
        )
    return _document(height, body)
