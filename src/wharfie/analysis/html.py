"""The analysis as one self-contained HTML page: layer bars, a treemap of the biggest
directories and the findings. Inline CSS, no script, nothing fetched: it opens offline."""

from __future__ import annotations

from html import escape

from wharfie.analysis.analyze import Analysis

TREEMAP_DIRS = 24
_W, _H = 960.0, 360.0

_CSS = """
body{font:14px system-ui,sans-serif;margin:24px;color:#1d2733;background:#fff}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
.figures span{display:inline-block;margin-right:24px}.figures b{font-size:18px}
.layer{display:flex;align-items:center;margin:3px 0}
.layer .bar{flex:none;height:16px;background:#3b7dd8;margin-right:8px;min-width:2px}
.layer.base .bar{background:#9aa5b1}.layer code{font-size:12px;color:#444}
.layer .n{flex:none;width:88px;text-align:right;margin-right:8px;font-variant-numeric:tabular-nums}
.treemap{position:relative;width:960px;height:360px;border:1px solid #ccc}
.treemap div{position:absolute;box-sizing:border-box;border:1px solid #fff;overflow:hidden;
 background:#4f9d69;color:#fff;font-size:11px;padding:2px}
.finding{margin:10px 0;padding:8px 12px;border-left:4px solid #d8563b;background:#fdf3f1}
.finding .fix{margin-top:4px;color:#233}.finding code{font-size:12px}
.none{color:#4f9d69}
"""


def render(a: Analysis) -> str:
    """The report page for ``a``."""
    return "".join([
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>wharfie image analyze: {escape(a.image)}</title><style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{escape(a.image)}</h1>",
        _figures(a), _layers(a), _treemap(a), _findings(a),
        "</body></html>\n"])


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _figures(a: Analysis) -> str:
    items = [("efficiency", f"{a.efficiency * 100:.2f} %"),
             ("wasted", _size(a.wasted_bytes)),
             ("size", _size(a.size_bytes)),
             ("base image", f"{_size(a.base_bytes)} ({a.base_layers} layer{'s' if a.base_layers != 1 else ''}"
                            + (f", {escape(a.base_name)})" if a.base_name else ")")),
             ("added by the Dockerfile", _size(a.dockerfile_bytes))]
    spans = "".join(f"<span>{k}: <b>{v}</b></span>" for k, v in items)
    return f"<div class=figures id=figures>{spans}</div>"


def _layers(a: Analysis) -> str:
    biggest = max((x.size for x in a.layers), default=0) or 1
    rows = []
    for x in a.layers:
        width = 600 * x.size / biggest
        rows.append(
            f"<div class='layer{' base' if x.base else ''}' data-layer={x.index}>"
            f"<span class=n>{_size(x.size)}</span><div class=bar style='width:{width:.1f}px'>"
            f"</div><code>{x.index}: {escape(x.command[:160])}</code></div>")
    return "<h2>Layers</h2><div id=layers>" + "".join(rows) + "</div>"


def _treemap(a: Analysis) -> str:
    dirs = list(a.directories.items())[:TREEMAP_DIRS]
    boxes = "".join(
        f"<div title='{escape(d)} {_size(n)}' style='left:{x:.1f}px;top:{y:.1f}px;"
        f"width:{w:.1f}px;height:{h:.1f}px'>/{escape(d.strip('/'))}<br>{_size(n)}</div>"
        for (d, n), (x, y, w, h) in zip(dirs, _slice(dirs, 0, 0, _W, _H), strict=True))
    return ("<h2>Biggest directories</h2><div class=treemap id=treemap>" + boxes + "</div>")


def _slice(items: list[tuple[str, int]], x: float, y: float, w: float,
           h: float) -> list[tuple[float, float, float, float]]:
    """Rectangles for ``items`` (biggest first): each takes its share of the longer side of
    what is left, alternating, so big directories get near-square boxes."""
    out = []
    total = sum(n for _, n in items) or 1
    for _, n in items:
        share = n / total
        if w >= h:
            cw = w * share
            out.append((x, y, cw, h))
            x, w = x + cw, w - cw
        else:
            ch = h * share
            out.append((x, y, w, ch))
            y, h = y + ch, h - ch
        total -= n
        total = total or 1
    return out


def _findings(a: Analysis) -> str:
    if not a.findings:
        return ("<h2>Findings</h2><div id=findings><p class=none>Nothing wasted that a "
                "rule knows how to fix.</p></div>")
    rows = "".join(
        f"<div class=finding data-kind={f.kind} data-layer={f.layer}>"
        f"<b>{escape(f.title)}</b> &mdash; {_size(f.bytes)}<br>"
        f"step: <code>{escape(f.step[:200])}</code>"
        f"<div class=fix>fix: {escape(f.fix)}</div></div>" for f in a.findings)
    return "<h2>Findings</h2><div id=findings>" + rows + "</div>"
