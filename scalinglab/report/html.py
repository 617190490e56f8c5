"""HTML building blocks for the report: escaping, number formatting and tables.

Every piece of text that can come from the user (file names, run names, column values, error messages, planner
requests) goes through ``esc``; numbers go through ``num`` so the page and the tests format them the same way.
Table cells keep the full-precision value in ``data-value`` so a reader (or a test) can check what is shown.
"""

from __future__ import annotations

import html
import math

CSS = """
:root { --ink: #1b1f23; --muted: #5b6570; --line: #d8dde3; --ok: #1a7f37; --caution: #9a6700; --warning: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
       "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 36px 0 8px; border-bottom: 1px solid
  var(--line); padding-bottom: 4px; } h3 { font-size: 16px; margin: 20px 0 6px; }
p.sub, .muted, figcaption { color: var(--muted); }
code, .formula { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 13.5px; display: block; max-width: 100%;
        overflow-x: auto; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.excluded td { color: var(--muted); background: #fff8f0; }
.badge { display: inline-block; min-width: 64px; text-align: center; padding: 1px 8px; border-radius: 10px;
         font-size: 12px; font-weight: 600; color: #fff; }
.badge.ok { background: var(--ok); } .badge.caution { background: var(--caution); }
.badge.warning { background: var(--warning); }
.trust-box { border: 2px solid var(--line); border-radius: 8px; padding: 4px 18px 10px; margin-top: 24px; }
.trust-box h2 { margin-top: 12px; }
.trust-box.caution { border-color: var(--caution); } .trust-box.warning { border-color: var(--warning); }
.headline { font-size: 17px; background: #f6f8fa; border-radius: 8px; padding: 10px 16px; }
figure { margin: 18px 0 26px; } figure img { display: block; max-width: 100%; height: auto; }
.scroll { max-height: 520px; overflow: auto; border: 1px solid var(--line); }
.scroll table { margin: 0; } .scroll th { position: sticky; top: 0; }
ul.notes li { color: var(--caution); }
"""


def esc(value) -> str:
    """HTML-escape any value as text (quotes too, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def num(value, digits: int = 4) -> str:
    """A number as shown on the page: 4 significant digits, ×10ⁿ for large or small magnitudes, '—' for missing."""
    if value is None:
        return "—"
    v = float(value)
    if not math.isfinite(v):
        return "—"
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        text = f"{v:.{digits}g}"
        return text if "e" not in text else _sci(v, digits)
    return _sci(v, digits)


def _sci(v: float, digits: int) -> str:
    mantissa, exponent = f"{v:.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    return f"{mantissa}×10<sup>{int(exponent)}</sup>"


def pct(value, digits: int = 2) -> str:
    if value is None or not math.isfinite(float(value)):
        return "—"
    return f"{100 * float(value):.{digits}f} %"


def interval(lo, hi, digits: int = 4) -> str:
    return f"[{num(lo, digits)}, {num(hi, digits)}]"


def ncell(value, shown: str | None = None) -> str:
    """A numeric cell: the shown text and the full value in ``data-value``."""
    full = "" if value is None or not math.isfinite(float(value)) else repr(float(value))
    return f'<td class="num" data-value="{full}">{num(value) if shown is None else shown}</td>'


def tcell(text) -> str:
    return f"<td>{esc(text)}</td>"


def table(headers, rows, *, table_id: str | None = None, numeric=(), row_classes=None) -> str:
    """A table from header labels and rows of already-rendered ``<td>`` strings."""
    ident = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f'<th class="{"num" if i in numeric else ""}">{esc(h)}</th>' for i, h in enumerate(headers))
    body = []
    for i, cells in enumerate(rows):
        cls = f' class="{esc(row_classes[i])}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def key_values(pairs, *, table_id: str | None = None) -> str:
    """A two-column table of (label, value) where values are plain numbers or text."""
    rows = []
    for key, value in pairs:
        if value is None:
            rows.append([tcell(key), tcell("—")])
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            rows.append([tcell(key), tcell(value)])
        else:
            rows.append([tcell(key), ncell(value)])
    return table(["quantity", "value"], rows, table_id=table_id, numeric=(1,))


def nested(value, *, depth: int = 0) -> str:
    """Render a nested dict/list (e.g. a planner result) as tables, escaping every key and value."""
    if isinstance(value, dict):
        scalars = [(k, v) for k, v in value.items() if not isinstance(v, (dict, list))]
        parts = [key_values([(str(k).replace("_", " "), v) for k, v in scalars])] if scalars else []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                tag = "h4" if depth else "h3"
                parts.append(f"<{tag}>{esc(str(k).replace('_', ' '))}</{tag}>{nested(v, depth=depth + 1)}")
        return "".join(parts)
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            keys = list(dict.fromkeys(k for v in value for k in v))
            rows = [[ncell(v.get(k)) if isinstance(v.get(k), (int, float)) and not isinstance(v.get(k), bool)
                     else tcell("" if v.get(k) is None else v.get(k)) for k in keys] for v in value]
            return table([k.replace("_", " ") for k in keys], rows)
        return f"<p>{esc(', '.join(map(str, value)))}</p>"
    return f"<p>{esc(value)}</p>"
