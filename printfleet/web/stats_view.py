"""The statistics report (:mod:`printfleet.stats`) as JSON, CSV and plots.

Plots are SVG drawn on the server by pygal (no JavaScript, nothing from a CDN); every number in a plot is
also in a table next to it. CSV is for machines: a header row, ``.`` as the decimal mark, fractions rather
than percentages, times as ISO 8601 in the site's timezone.
"""

from __future__ import annotations

import csv
import datetime as dt
import gettext
import io
import logging
from collections.abc import Callable, Sequence
from typing import Any

import pygal
from babel import dates
from markupsafe import Markup
from pygal.style import Style

from printfleet.config import SiteConfig
from printfleet.stats import Bucket, Grouping, Report, Usage
from printfleet.web.i18n import Formatter

logger = logging.getLogger(__name__)

#: the tables a report exports; a maker's own report has no ``members``
TABLES = ("members", "printers", "materials", "series")
OWN_TABLES = ("printers", "materials", "series")
#: how many members the staff plot shows (the table has them all)
TOP_MEMBERS = 12

CHART_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#1d2733",
    foreground_strong="#1d2733",
    foreground_subtle="#5d6b7a",
    colors=("#1f6feb", "#c62828", "#b35900", "#1a7f37", "#8250df", "#0b4f9c"),
    font_family='system-ui, "Segoe UI", Roboto, sans-serif',
    label_font_size=17,
    major_label_font_size=17,
    legend_font_size=15,
    value_font_size=16,
    title_font_size=18,
    no_data_font_size=20,
    opacity=".9",
    opacity_hover="1",
    transition="0ms",
)


# ---------------------------------------------------------------------------------------------------- JSON


def usage_json(usage: Usage, site: SiteConfig) -> dict[str, Any]:
    """One row's figures."""
    return {
        "print_hours": round(usage.print_hours, 3),
        "filament_g": round(usage.grams, 1),
        "cost": usage.cost(site),
        "done": usage.done,
        "failed": usage.failed,
        "cancelled": usage.cancelled,
    }


def _local_iso(value: dt.datetime, report: Report) -> str:
    return value.astimezone(report.period.tz).isoformat()


def report_json(report: Report, site: SiteConfig) -> dict[str, Any]:
    """The whole report as JSON (a maker's own report leaves out members, utilisation and maintenance)."""
    own = report.owner_id is not None
    period = report.period
    result: dict[str, Any] = {
        "period": {
            "from": period.first_day.isoformat(),
            "to": period.last_day.isoformat(),
            "start": _local_iso(period.start, report),
            "end": _local_iso(period.end, report),
            "timezone": period.tz.key,
            "group": report.grouping.value,
            "now": _local_iso(report.now, report),
        },
        "currency": site.currency if site.cost_of(0, 0) is not None else None,
        "totals": usage_json(report.totals, site),
    }
    if not own:
        result["utilisation_basis"] = report.basis.value
        result["members"] = [
            {"user_id": m.user_id, "name": m.name, "display_name": m.display_name, "active": m.active,
             "deleted": m.deleted, **usage_json(m.usage, site)}
            for m in report.members
        ]  # fmt: skip
    printers = []
    for p in report.printers:
        row: dict[str, Any] = {"id": p.printer_id, "name": p.name, **usage_json(p.usage, site)}
        if not own:
            row.update(in_fleet=p.in_fleet, utilisation=_round(p.utilisation, 4),
                       failure_rate=_round(p.usage.failure_rate, 4), maintenance_hours=round(p.maintenance_hours, 3))
        printers.append(row)
    result["printers"] = printers
    result["materials"] = [{"material": m.material or None, **usage_json(m.usage, site)} for m in report.materials]
    result["series"] = [
        {"start": _local_iso(b.start, report), "end": _local_iso(b.end, report), **usage_json(b.usage, site)}
        for b in report.series
    ]
    return result


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# ---------------------------------------------------------------------------------------------------- CSV


def _usage_cells(usage: Usage, site: SiteConfig, with_cost: bool) -> list[str]:
    cells = [f"{usage.print_hours:.3f}", f"{usage.grams:.1f}"]
    if with_cost:
        cost = usage.cost(site)
        cells.append("" if cost is None else f"{cost:.2f}")
    return [*cells, str(usage.done), str(usage.failed), str(usage.cancelled)]


def _fraction(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def report_csv(report: Report, table: str, site: SiteConfig) -> str:
    """One table of the report as CSV with a header row.

    Raises:
        KeyError: no such table (or not one of a maker's own).
    """
    own = report.owner_id is not None
    if table not in (OWN_TABLES if own else TABLES):
        raise KeyError(table)
    with_cost = site.cost_of(0, 0) is not None
    usage_head = ["print_hours", "filament_g", *([f"cost_{site.currency.lower()}"] if with_cost else []),
                  "done", "failed", "cancelled"]  # fmt: skip
    rows: list[list[str]] = []
    if table == "members":
        rows.append(["user_id", "member", "display_name", "active", *usage_head])
        rows += [[str(m.user_id), m.name or "", m.display_name, "true" if m.active else "false",
                  *_usage_cells(m.usage, site, with_cost)] for m in report.members]  # fmt: skip
    elif table == "printers":
        extra_head = [] if own else ["utilisation", "utilisation_basis", "failure_rate", "maintenance_hours"]
        rows.append(["printer_id", "printer", *usage_head, *extra_head])
        for p in report.printers:
            extra = [] if own else [_fraction(p.utilisation), report.basis.value, _fraction(p.usage.failure_rate),
                                    f"{p.maintenance_hours:.3f}"]  # fmt: skip
            rows.append([p.printer_id, p.name, *_usage_cells(p.usage, site, with_cost), *extra])
    elif table == "materials":
        rows.append(["material", *usage_head])
        rows += [[m.material, *_usage_cells(m.usage, site, with_cost)] for m in report.materials]
    else:
        rows.append(["start", "end", *usage_head])
        rows += [[_local_iso(b.start, report), _local_iso(b.end, report), *_usage_cells(b.usage, site, with_cost)]
                 for b in report.series]  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


def csv_file_name(report: Report, table: str) -> str:
    """``printfleet-members-2026-03-02_2026-03-08.csv``."""
    return f"printfleet-{table}-{report.period.first_day.isoformat()}_{report.period.last_day.isoformat()}.csv"


# ---------------------------------------------------------------------------------------------------- plots


def bucket_label(bucket: Bucket, grouping: Grouping, t: gettext.NullTranslations, locale: str) -> str:
    """A bucket's short label: ``Mo., 16.3.`` / ``Mon 16 Mar``, ``KW 12`` / ``wk 12``, ``März 2026``."""
    if grouping is Grouping.DAY:
        return dates.format_skeleton("EEEMd", bucket.day, locale=locale)
    if grouping is Grouping.WEEK:
        return t.gettext("wk %(week)s") % {"week": bucket.day.isocalendar().week}
    return dates.format_skeleton("yMMM", bucket.day, locale=locale)


def _render(chart: pygal.graph.graph.Graph, label: str) -> Markup:
    svg = chart.render(is_unicode=True)
    return Markup('<div class="chart-svg" role="img" aria-label="{}">{}</div>').format(label, Markup(svg))


def _config(t: gettext.NullTranslations, *, height: int, **options: Any) -> dict[str, Any]:
    return {
        "style": CHART_STYLE,
        "width": 480,
        "height": height,
        "explicit_size": False,
        "disable_xml_declaration": True,
        "js": [],
        "show_legend": False,
        "no_data_text": t.gettext("No data in this period"),
        "margin": 8,
        "margin_right": 28,
        "truncate_legend": -1,
        "spacing": 12,
        "truncate_label": 28,
        "print_values": False,
        "show_minor_x_labels": False,
        **options,
    }


def _every(count: int, most: int) -> int:
    return max(1, -(-count // most))


def _axis_number(fmt: Formatter) -> Callable[[float], str]:
    return lambda v: fmt.number(v, 0 if float(v).is_integer() else 1)


def series_charts(report: Report, t: gettext.NullTranslations, fmt: Formatter) -> list[tuple[str, Markup]]:
    """Print hours per bucket, and done / failed / cancelled per bucket (stacked)."""
    labels = [bucket_label(b, report.grouping, t, fmt.locale) for b in report.series]
    major = labels[:: _every(len(labels), 5)]
    hours_title = t.gettext("Print hours")
    hours = pygal.Bar(**_config(t, height=300, x_labels_major=major, value_formatter=_axis_number(fmt)))
    hours.x_labels = labels
    hours.add(hours_title, [round(b.usage.print_hours, 2) for b in report.series])
    prints_title = t.gettext("Prints done, failed and cancelled")
    prints = pygal.StackedBar(**_config(t, height=320, x_labels_major=major, show_legend=True,
                                        legend_at_bottom=True, legend_at_bottom_columns=3,
                                        value_formatter=lambda v: fmt.number(v)))  # fmt: skip
    prints.x_labels = labels
    prints.add(t.gettext("done"), [b.usage.done for b in report.series])
    prints.add(t.gettext("failed"), [b.usage.failed for b in report.series])
    prints.add(t.gettext("cancelled"), [b.usage.cancelled for b in report.series])
    return [(hours_title, _render(hours, hours_title)), (prints_title, _render(prints, prints_title))]


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], t: gettext.NullTranslations,
              formatter: Callable[[float], str], *, colour: int = 0, max_value: float | None = None) -> Markup:
    """A horizontal bar per label (printers, members, materials)."""
    style = Style(**{**CHART_STYLE.to_dict(), "colors": (CHART_STYLE.colors[colour],)})
    options: dict[str, Any] = {"value_formatter": formatter}
    if max_value is not None:
        options["range"] = (0, max_value)
    chart = pygal.HorizontalBar(**{**_config(t, height=70 + 40 * max(1, len(labels))), "style": style, **options})
    chart.x_labels = list(labels)
    chart.add(title, list(values))
    return _render(chart, title)
