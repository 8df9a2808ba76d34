"""Small SVG charts drawn by the appliance itself (no script, no fetched library)."""

from __future__ import annotations

from appliance.panel.html import Markup, html, join

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 600, 180, 28, 22, 10


def bar_chart(values: list[int | None], labels: list[str], title: str, every: int = 3, unit: str = "") -> Markup:
    """A bar per value, its label under every `every`-th bar, the highest value on the axis; a tooltip per bar
    (`unit` after its value). None is no bar at all, told apart from 0 in the tooltip."""
    top = max((value for value in values if value is not None), default=0) or 1
    slot = (WIDTH - LEFT) / max(len(values), 1)
    plot = HEIGHT - BOTTOM - TOP
    bars = []
    for index, (value, label) in enumerate(zip(values, labels)):
        height = plot * (value or 0) / top
        x = LEFT + index * slot
        bars.append(html('<rect fill="#2f6f9f" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}">'
                         '<title>{label}: {value}</title></rect>', x=x + 1, y=TOP + plot - height,
                         w=max(slot - 2, 1), h=height, label=label,
                         value="none" if value is None else f"{value}{unit}"))
        if index % every == 0:
            bars.append(html('<text x="{x:.1f}" y="{y}" text-anchor="middle">{label}</text>',
                             x=x + slot / 2, y=HEIGHT - 6, label=label))
    return html('<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" role="img" '
                'aria-label="{title}"><title>{title}</title>'
                '<g font-family="sans-serif" font-size="10" fill="#555">'
                '<line stroke="#999" x1="{left}" y1="{base}" x2="{w}" y2="{base}"/>'
                '<text x="{tx}" y="{ty}" text-anchor="end">{top}</text>'
                '<text x="{tx}" y="{base}" text-anchor="end">0</text>{bars}{empty}</g></svg>',
                w=WIDTH, h=HEIGHT, title=title, left=LEFT, base=HEIGHT - BOTTOM, tx=LEFT - 4, ty=TOP + 8,
                top=top, bars=join(bars), empty="" if any(values) else html(
                    '<text x="{x}" y="{y}" text-anchor="middle" font-size="12">nothing yet</text>',
                    x=(LEFT + WIDTH) / 2, y=TOP + (HEIGHT - BOTTOM - TOP) / 2))
