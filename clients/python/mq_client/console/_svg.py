"""Charts drawn on the server as inline SVG: sparklines, line charts over
the last hour, and an exchange's bindings as a graph.  Every text that
reaches the SVG goes through markupsafe's escape."""
from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence, Tuple

from markupsafe import Markup, escape

from ._urls import href

Point = Tuple[float, float]
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777",
          "#4b5563")


def _fmt(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.0f}k"
    if v == int(v):
        return str(int(v))
    return f"{v:.2f}"


def sparkline(points: Sequence[Point], width: int = 120, height: int = 24,
              label: str = "") -> Markup:
    """A small line of the values over the time they cover."""
    if len(points) < 2:
        return Markup('<svg class="spark" width="{w}" height="{h}" role="img" '
                      'aria-label="{l}: no samples yet"></svg>').format(
            w=width, h=height, l=label)
    t0, t1 = points[0][0], points[-1][0]
    lo = min(0.0, min(v for _, v in points))
    hi = max(v for _, v in points)
    span_t = (t1 - t0) or 1.0
    span_v = (hi - lo) or 1.0
    xy = " ".join(f"{(t - t0) / span_t * (width - 2) + 1:.1f},"
                  f"{height - 1 - (v - lo) / span_v * (height - 2):.1f}" for t, v in points)
    return Markup('<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
                  'role="img" aria-label="{l}"><polyline fill="none" stroke="#2563eb" '
                  'stroke-width="1.5" points="{xy}"/></svg>').format(
        w=width, h=height, l=label, xy=xy)


def _ago(seconds: float) -> str:
    if seconds >= 120:
        return f"-{seconds / 60:.0f} min"
    return f"-{seconds:.0f} s"


def line_chart(series: Dict[str, List[Point]], title: str, unit: str = "",
               width: int = 560, height: int = 190, window: float = 3600.0,
               now: Optional[float] = None) -> Markup:
    """Lines of several series over the time sampled, up to the last
    ``window`` seconds (at least a minute), with a y axis from 0 (or the
    lowest value) to the highest, and a legend."""
    now = time.time() if now is None else now
    first = min([now] + [t for pts in series.values() for t, _ in pts])
    window = min(window, max(60.0, now - first))
    left, right, top, bottom = 48, 10, 24, 22
    pw, ph = width - left - right, height - top - bottom
    values = [v for pts in series.values() for _, v in pts]
    lo = min([0.0] + values)
    hi = max([1.0] + values)
    parts: List[Markup] = [Markup(
        '<svg class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        'aria-label="{t}"><text x="{l}" y="14" class="title">{t}</text>').format(
        w=width, h=height, t=title, l=left)]
    for frac in (0.0, 0.5, 1.0):
        y = top + ph - frac * ph
        parts.append(Markup(
            '<line x1="{l}" x2="{r}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            '<text x="{tx}" y="{ty:.1f}" text-anchor="end" class="axis">{v}</text>').format(
            l=left, r=left + pw, y=y, tx=left - 4, ty=y + 4,
            v=_fmt(lo + frac * (hi - lo)) + unit))
    for i, label in enumerate((_ago(window), _ago(window / 2), "now")):
        x = left + i * pw / 2
        parts.append(Markup('<text x="{x:.1f}" y="{y}" text-anchor="{a}" class="axis">'
                            '{t}</text>').format(
            x=x, y=height - 6, t=label, a=("start", "middle", "end")[i]))
    legend_x = left + 7 * len(title) + 16
    for i, (name, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        xy = " ".join(f"{left + (t - (now - window)) / window * pw:.1f},"
                      f"{top + ph - (v - lo) / ((hi - lo) or 1) * ph:.1f}"
                      for t, v in pts if t >= now - window)
        if xy:
            parts.append(Markup('<polyline fill="none" stroke="{c}" stroke-width="1.5" '
                                'points="{xy}"/>').format(c=color, xy=xy))
        parts.append(Markup('<rect x="{x}" y="6" width="10" height="10" fill="{c}"/>'
                            '<text x="{tx}" y="15" class="legend">{n}</text>').format(
            x=legend_x, c=color, tx=legend_x + 14, n=name))
        legend_x += 24 + 7 * len(name)
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def bindings_graph(exchange: str, incoming: Sequence[Dict[str, object]],
                   outgoing: Sequence[Dict[str, object]], base: str = "") -> Markup:
    """The exchange in the middle, the exchanges bound into it on the left,
    its destinations (queues, streams, exchanges) on the right, each edge
    labelled with its binding key; every node links to its page."""
    row_h, node_w, node_h = 44, 170, 28
    rows = max(len(incoming), len(outgoing), 1)
    height = rows * row_h + 20
    width = 3 * node_w + 2 * 150
    cx, cy = node_w + 150, height / 2 - node_h / 2
    parts: List[Markup] = [Markup(
        '<svg class="graph" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        'aria-label="bindings of {e}">').format(w=width, h=height, e=exchange)]

    def node(x: float, y: float, name: str, kind: str) -> None:
        fill = {"exchange": "#fef3c7", "queue": "#dbeafe", "stream": "#dcfce7"}[kind]
        label = name if len(name) <= 22 else name[:21] + "\u2026"
        parts.append(Markup(
            '<a href="{b}{u}"><title>{k} {full}</title>'
            '<rect x="{x:.1f}" y="{y:.1f}" rx="6" width="{w}" height="{h}" fill="{f}" '
            'stroke="#6b7280"/><text x="{tx:.1f}" y="{ty:.1f}" '
            'text-anchor="middle" class="node">{l}</text></a>').format(
            b=base, k=kind, u=href(kind + "s", name), x=x, y=y, w=node_w, h=node_h, f=fill,
            tx=x + node_w / 2, ty=y + node_h / 2 + 4, full=name, l=label))

    def edge(x1: float, y1: float, x2: float, y2: float, key: object) -> None:
        parts.append(Markup(
            '<path d="M{x1:.1f},{y1:.1f} C{mx:.1f},{y1:.1f} {mx:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" '
            'fill="none" stroke="#9ca3af" marker-end="url(#arrow)"/>'
            '<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="middle" class="key">{k}</text>').format(
            x1=x1, y1=y1, x2=x2, y2=y2, mx=(x1 + x2) / 2, lx=(x1 + x2) / 2,
            ly=(y1 + y2) / 2 - 4, k=key if key not in (None, "") else "(no key)"))

    parts.append(Markup('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
                        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                        '<path d="M0,0 L10,5 L0,10 z" fill="#9ca3af"/></marker></defs>'))
    for i, b in enumerate(incoming):
        y = 10 + i * row_h + (rows - len(incoming)) * row_h / 2
        edge(node_w, y + node_h / 2, cx, cy + node_h / 2, b.get("binding_key"))
        node(0, y, str(b["source"]), "exchange")
    for i, b in enumerate(outgoing):
        y = 10 + i * row_h + (rows - len(outgoing)) * row_h / 2
        x = cx + node_w + 150
        edge(cx + node_w, cy + node_h / 2, x, y + node_h / 2, b.get("binding_key"))
        node(x, y, str(b["destination"]), str(b["destination_type"]))
    node(cx, cy, exchange, "exchange")
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
