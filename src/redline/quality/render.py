"""Tables of eval figures for the terminal (rich), one per slice.

The targets of the detection issue are drawn in: recall of at least
:data:`RECALL_TARGET` for the pattern types, and at most
:data:`NEGATIVE_TARGET` of hard negatives altered in all. Figures that miss
a target are shown in red, so a glance tells what needs work.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from ._labels import Planted
from .evaluate import Report, TypeScore

RECALL_TARGET = 0.99
NEGATIVE_TARGET = 0.005
# no recall target: free text is a policy's choice, names and places need NER
_NO_TARGET = frozenset(
    {Planted.FREE_TEXT.value, Planted.PERSON.value, Planted.ADDRESS.value}
)
FREE_TEXT_CARRIERS = frozenset({"prompt", "message"})


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _recall(score: TypeScore) -> str:
    text = _pct(score.recall)
    if score.kind in _NO_TARGET or score.recall is None:
        return text
    return text if score.recall >= RECALL_TARGET else f"[red]{text}[/red]"


def types_table(report: Report, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("type", no_wrap=True)
    table.add_column("planted", justify="right")
    table.add_column("recall", justify="right")
    table.add_column("strict", justify="right")
    table.add_column("neg. altered", justify="right")
    table.add_column("precision", justify="right")
    table.add_column("F1", justify="right")
    for score in [*report.types, report.overall]:
        name = "all types" if score is report.overall else score.kind
        table.add_row(
            f"[bold]{name}[/bold]" if score is report.overall else name,
            str(score.planted),
            _recall(score),
            _pct(score.strict_recall),
            _pct(score.negatives_altered, 2),
            _ratio(score.precision),
            _ratio(score.f1),
        )
    return table


def negatives_table(report: Report, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("hard negative")
    table.add_column("count", justify="right")
    table.add_column("altered", justify="right")
    table.add_column("share", justify="right")
    table.add_column("altered by")
    for item in report.negatives:
        by = ", ".join(f"{name} {count}" for name, count in item.by.most_common())
        table.add_row(
            item.kind, str(item.count), str(item.altered), _pct(item.share, 2), by
        )
    total, altered = report.negatives_total, report.negatives_altered
    share = altered / total if total else None
    shown = _pct(share, 2)
    if share is not None and share > NEGATIVE_TARGET:
        shown = f"[red]{shown}[/red]"
    table.add_row("[bold]all[/bold]", str(total), str(altered), shown, "")
    return table


def carriers_table(
    reports: Sequence[tuple[str, Report]], kinds: Sequence[str]
) -> Table:
    """Recall of ``kinds`` in free text and elsewhere, one column per run."""
    table = Table(
        title="Names and places: where they were planted", title_justify="left"
    )
    table.add_column("type")
    table.add_column("carried in")
    table.add_column("planted", justify="right")
    for name, _ in reports:
        table.add_column(f"recall {name}", justify="right")
    for kind in kinds:
        for label, in_text in (("free text", True), ("fields, lists, search", False)):
            row: list[str] = []
            planted = 0
            for _, report in reports:
                caught = total = 0
                for (k, _variant, carrier), (missed, count) in report.shapes.items():
                    if k == kind and (carrier in FREE_TEXT_CARRIERS) == in_text:
                        caught += count - missed
                        total += count
                planted = total
                row.append(_pct(caught / total if total else None))
            table.add_row(kind, label, str(planted), *row)
    return table


def comparison_table(base: Report, ner: Report, title: str) -> Table:
    """Every type with and without the NER backend, side by side."""
    table = Table(title=title, title_justify="left")
    table.add_column("type", no_wrap=True)
    for column in ("recall", "precision", "F1"):
        table.add_column(f"{column}\nwithout", justify="right")
        table.add_column(f"{column}\nwith NER", justify="right")
    rows = {score.kind: score for score in ner.types}
    for score in [*base.types, base.overall]:
        other = (
            ner.overall
            if score is base.overall
            else rows.get(score.kind, TypeScore(score.kind))
        )
        table.add_row(
            "all types" if score is base.overall else score.kind,
            _pct(score.recall),
            _pct(other.recall),
            _ratio(score.precision),
            _ratio(other.precision),
            _ratio(score.f1),
            _ratio(other.f1),
        )
    table.add_row(
        "negatives altered",
        _pct(
            base.negatives_altered / base.negatives_total
            if base.negatives_total
            else None,
            2,
        ),
        _pct(
            ner.negatives_altered / ner.negatives_total
            if ner.negatives_total
            else None,
            2,
        ),
        "",
        "",
        "",
        "",
    )
    return table


def show(console: Console, tables: Sequence[Table]) -> None:
    for table in tables:
        console.print(table)
        console.print()


def misses_table(report: Report, title: str, limit: int = 15) -> Table | None:
    """Where the pattern types miss most: type, written form and carrier."""
    rows = sorted(
        (
            (missed, planted, kind, variant, carrier)
            for (kind, variant, carrier), (missed, planted) in report.shapes.items()
            if missed and kind not in _NO_TARGET
        ),
        reverse=True,
    )[:limit]
    if not rows:
        return None
    table = Table(title=title, title_justify="left")
    table.add_column("type", no_wrap=True)
    table.add_column("written as")
    table.add_column("carried in")
    table.add_column("missed", justify="right")
    for missed, planted, kind, variant, carrier in rows:
        table.add_row(kind, variant, carrier, f"{missed} of {planted}")
    return table


def shortfalls(report: Report) -> list[str]:
    """What misses the targets in ``report``: one line per shortfall."""
    lines = [
        f"{score.kind} recall {_pct(score.recall)} < {_pct(RECALL_TARGET, 0)}"
        for score in report.types
        if score.kind not in _NO_TARGET
        and score.recall is not None
        and score.recall < RECALL_TARGET
    ]
    total = report.negatives_total
    if total and report.negatives_altered / total > NEGATIVE_TARGET:
        share = _pct(report.negatives_altered / total, 2)
        lines.append(f"negatives altered {share} > {_pct(NEGATIVE_TARGET)}")
    return lines
