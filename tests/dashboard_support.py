"""Reading the chart's Grafana dashboards (charts/odradek-operator/dashboards/*.json) for the tests that check
their queries against real scrapes: `metric_names` (a small PromQL reader: string literals, label matchers, ranges
and grouping clauses removed, then every identifier that is not a function, an aggregation or a keyword),
`panel_queries` and `variable_queries` with Grafana's variables set to "All" (allValue ".*") and its interval macros
to fixed ranges."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DASHBOARDS = Path(__file__).resolve().parents[1] / "charts" / "odradek-operator" / "dashboards"
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}
ALL = ".*"


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = GROUPING.sub(" ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        name, rest = match.group(), text[match.end() :]
        if name in KEYWORDS or re.match(r"\s*\(", rest):
            continue  # a keyword, or a function or aggregation being called
        names.add(name)
    return names


def dashboard(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DASHBOARDS / name).read_text())
    return loaded


def panel_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expression with the variables set to All) of every target of every panel."""
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            found.append((str(panel["title"]), substitute(str(target["expr"]), board)))
    return found


def variable_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(variable name, the metric selector of its `label_values(selector, label)` query)."""
    found = []
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
        assert match, f"variable {variable['name']}: not a label_values query: {query}"
        found.append((str(variable["name"]), substitute(match.group(1), board)))
    return found


def substitute(expr: str, board: dict[str, Any]) -> str:
    for macro, value in VARIABLES.items():
        expr = expr.replace(macro, value)
    for variable in board["templating"]["list"]:
        expr = expr.replace("${" + variable["name"] + "}", ALL).replace("$" + variable["name"], ALL)
    assert "$" not in expr, f"an unknown variable in {expr}"
    return expr


def missing_metrics(board: dict[str, Any], scraped: set[str]) -> list[str]:
    """`where: metric` for every metric a panel or variable of `board` queries that `scraped` lacks."""
    return [
        f"{where}: {name}"
        for where, expr in panel_queries(board) + variable_queries(board)
        for name in sorted(metric_names(expr))
        if name not in scraped
    ]


def check_structure(board: dict[str, Any]) -> None:
    """Unique panel ids, a query in every panel, a metric in every query."""
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    assert all(p.get("targets") for p in panels), "a panel without a query"
    assert all(metric_names(expr) for _, expr in panel_queries(board)), "an expression selecting no metric"
