#!/usr/bin/env python3
"""Checks the shipped Grafana dashboard and Prometheus rules against what the relay exports.

    scripts/check-monitoring.py --metrics FILE
        [--dashboard deploy/grafana/graph-relay.json]
        [--rules deploy/prometheus/graph-relay-rules.yml]
        [--no-promtool] [--promtool PATH]

FILE is the text the relay's /metrics answers (Prometheus text exposition), saved from a relay
that has accepted and delivered at least one message: some families appear on first use. For
example, against the demo (`make run`) after one message went through:

    curl -s http://127.0.0.1:9025/metrics > /tmp/metrics.txt     # add -H "Authorization: Bearer …"
    scripts/check-monitoring.py --metrics /tmp/metrics.txt          # when admin.bearerToken is set

`--metrics -` reads standard input.

What it checks:

1. `promtool check rules RULES` and `promtool test rules RULES_TEST`, where RULES_TEST is the
   `.test.yml` beside the rules (graph-relay-rules.yml -> graph-relay-rules.test.yml).
   `--no-promtool` skips this step.
2. Every metric name in a PromQL expression of the dashboard (each panel's `targets[].expr`,
   recursing into rows and their panels, the templating queries and any query annotations) and
   of the rules (every `expr:`) is exported by FILE. Metric names are the identifiers starting
   `graph_relay_`; a name ending `_bucket`, `_sum` or `_count` whose base is a histogram family
   (`_sum`, `_count` of a summary) stands for that family. Names a rule defines with `record:`
   are not expected in FILE.
3. The dashboard has panels, and every panel has targets with an expression (rows, which only
   group panels, and text panels are exempt).

Exit status: 0 when everything passes (one summary line is printed); 1 when a check fails (each
problem is printed on its own line, naming the file); 2 when the check cannot run (promtool
missing, a file unreadable, FILE not valid exposition text).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "graph-relay.json")
DEFAULT_RULES = os.path.join(ROOT, "deploy", "prometheus", "graph-relay-rules.yml")

# Our metric names. The lookbehind keeps out Grafana variables ($graph_relay_x) and longer
# identifiers that merely contain the prefix.
METRIC_NAME = re.compile(r"(?<![A-Za-z0-9_:$])graph_relay_[A-Za-z0-9_:]*")
# PromQL string literals: "…" and '…' with backslash escapes, `…` raw.
PROMQL_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', re.DOTALL)
# Suffixes of the series a histogram or summary family is exposed as.
FAMILY_SUFFIXES = {
    "_bucket": ("histogram", "gaugehistogram"),
    "_sum": ("histogram", "summary"),
    "_count": ("histogram", "summary"),
    "_gsum": ("gaugehistogram",),
    "_gcount": ("gaugehistogram",),
}
# Panels that hold no query by design.
PANELS_WITHOUT_QUERIES = {"row", "text"}


class CannotRun(Exception):
    """The check cannot be carried out (exit status 2)."""


# ---------------------------------------------------------------------------------------------
# Prometheus text exposition


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str = ""
    samples: int = 0


SAMPLE_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
SAMPLE_VALUE = re.compile(r"[+-]?(?:Inf|inf|NaN|nan|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+\.)$")
METRIC_TYPES = {"counter", "gauge", "histogram", "gaugehistogram", "summary", "untyped", "unknown",
                "info", "stateset"}


def _skip_labels(line: str, start: int, where: str) -> int:
    """The index just past the label set `{…}` that begins at `start`."""
    i = start + 1
    in_string = False
    while i < len(line):
        c = line[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "}":
            return i + 1
        i += 1
    raise CannotRun(f"{where}: unterminated label set")


def parse_exposition(text: str, source: str = "metrics") -> dict[str, Family]:
    """Metric families by name, from Prometheus text exposition (`# HELP`, `# TYPE`, samples).

    A sample belongs to the family its name was declared as with `# TYPE`, or, for the
    `_bucket`/`_sum`/`_count` series of a histogram or summary, to that family; any other
    sample makes an untyped family of its own name."""
    families: dict[str, Family] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{source}:{number}"
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line[1:].strip().split(None, 3)
            if len(parts) >= 2 and parts[0] in ("HELP", "TYPE"):
                name = parts[1]
                if not SAMPLE_NAME.fullmatch(name):
                    raise CannotRun(f"{where}: invalid metric name {name!r}")
                family = families.setdefault(name, Family(name))
                if parts[0] == "TYPE":
                    kind = parts[2].lower() if len(parts) > 2 else ""
                    if kind not in METRIC_TYPES:
                        raise CannotRun(f"{where}: unknown metric type {kind!r} for {name}")
                    family.type = kind
                else:
                    family.help = " ".join(parts[2:])
            continue  # any other comment
        match = SAMPLE_NAME.match(line)
        if not match:
            raise CannotRun(f"{where}: not a sample line: {raw!r}")
        name = match.group(0)
        rest_at = match.end()
        if rest_at < len(line) and line[rest_at] == "{":
            rest_at = _skip_labels(line, rest_at, where)
        rest = line[rest_at:].split()
        if not rest or len(rest) > 2 or not SAMPLE_VALUE.match(rest[0]):
            raise CannotRun(f"{where}: not a sample line: {raw!r}")
        family_of(name, families).samples += 1
    return families


def family_of(name: str, families: dict[str, Family]) -> Family:
    """The family a series named `name` belongs to (created untyped when none is declared)."""
    if name in families:
        return families[name]
    base = histogram_base(name, families)
    if base is not None:
        return families[base]
    return families.setdefault(name, Family(name))


def histogram_base(name: str, families: dict[str, Family]) -> str | None:
    """The histogram or summary family `name` is a series of (`x_bucket` -> `x`), if any."""
    for suffix, kinds in FAMILY_SUFFIXES.items():
        if name.endswith(suffix):
            base = families.get(name[: -len(suffix)])
            if base is not None and base.type in kinds:
                return base.name
    return None


# ---------------------------------------------------------------------------------------------
# Metric names in PromQL


def metric_names(expr: str) -> set[str]:
    """The `graph_relay_` identifiers of a PromQL expression, outside strings and comments."""
    code = PROMQL_STRING.sub('""', expr)
    code = re.sub(r"#[^\n]*", "", code)
    return set(METRIC_NAME.findall(code))


@dataclass
class Uses:
    """Where each metric name is used: name -> ["file (panel …)", …]."""
    by_name: dict[str, list[str]] = field(default_factory=dict)

    def add(self, expr: str, place: str) -> None:
        for name in sorted(metric_names(expr)):
            places = self.by_name.setdefault(name, [])
            if place not in places:
                places.append(place)


# ---------------------------------------------------------------------------------------------
# The dashboard


def _panels(container: dict) -> list[dict]:
    panels = container.get("panels")
    return panels if isinstance(panels, list) else []


def walk_panels(dashboard: dict):
    """Every panel, depth first: top-level panels, the panels inside rows (a collapsed row holds
    its own), and the panels of old dashboards' `rows`."""
    stack = list(reversed(_panels(dashboard)))
    old_rows = dashboard.get("rows")
    for row in old_rows if isinstance(old_rows, list) else []:
        if isinstance(row, dict):
            stack[:0] = list(reversed(_panels(row)))
    while stack:
        panel = stack.pop()
        if isinstance(panel, dict):
            yield panel
            stack.extend(reversed(_panels(panel)))


def _panel_label(panel: dict) -> str:
    title = panel.get("title") or "(untitled)"
    return f'panel "{title}" (id {panel.get("id", "?")})'


def check_dashboard(path: str, uses: Uses) -> list[str]:
    """Adds the dashboard's metric names to `uses`; returns its structural problems."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as error:
        raise CannotRun(f"cannot read the dashboard {path}: {error.strerror}") from error
    try:
        dashboard = json.loads(text)
    except json.JSONDecodeError as error:
        return [f"{path}: not valid JSON: {error}"]
    if not isinstance(dashboard, dict):
        return [f"{path}: not a dashboard (the JSON is not an object)"]
    if isinstance(dashboard.get("dashboard"), dict):  # the API's {"dashboard": …} envelope
        dashboard = dashboard["dashboard"]

    problems = []
    queried = 0
    for panel in walk_panels(dashboard):
        kind = panel.get("type", "")
        if kind in PANELS_WITHOUT_QUERIES:
            continue
        queried += 1
        label = _panel_label(panel)
        targets = panel.get("targets")
        if not isinstance(targets, list) or not targets:
            problems.append(f"{path}: {label} has no targets")
            continue
        for target in targets:
            expr = target.get("expr") if isinstance(target, dict) else None
            if not isinstance(expr, str) or not expr.strip():
                ref = target.get("refId", "?") if isinstance(target, dict) else "?"
                problems.append(f"{path}: {label}, target {ref}, has no expression")
                continue
            uses.add(expr, f"{path} ({label})")
    if queried == 0:
        problems.append(f"{path}: the dashboard has no panels")

    templating = dashboard.get("templating", {})
    for variable in templating.get("list", []) if isinstance(templating, dict) else []:
        if not isinstance(variable, dict) or variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        for expr in (query, variable.get("definition")):
            if isinstance(expr, str):
                uses.add(expr, f'{path} (variable "{variable.get("name", "?")}")')

    annotations = dashboard.get("annotations", {})
    for annotation in annotations.get("list", []) if isinstance(annotations, dict) else []:
        if not isinstance(annotation, dict):
            continue
        target = annotation.get("target") if isinstance(annotation.get("target"), dict) else {}
        for expr in (annotation.get("expr"), target.get("expr")):
            if isinstance(expr, str):
                uses.add(expr, f'{path} (annotation "{annotation.get("name", "?")}")')
    return problems


# ---------------------------------------------------------------------------------------------
# The rules (read without a YAML library: only `alert:`, `record:` and `expr:` matter here)

RULE_KEY = re.compile(r"^(?P<indent>\s*(?:-\s+)?)(?P<key>alert|record|expr)\s*:(?P<value>.*)$")


def _scalar(first: str, continuation: list[str]) -> str:
    """A YAML scalar's text, near enough to read PromQL identifiers from: block (`|`, `>`),
    quoted or plain, on one line or several. Line breaks are kept (PromQL comments end at one)."""
    first = first.strip()
    if re.fullmatch(r"[|>][0-9+-]*(\s+#.*)?", first):
        return "\n".join(continuation)
    text = "\n".join([first] + [line.strip() for line in continuation]).strip()
    if text[:1] == '"' and text.endswith('"') and len(text) > 1:
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if text[:1] == "'" and text.endswith("'") and len(text) > 1:
        return text[1:-1].replace("''", "'")
    return text


def rule_expressions(text: str) -> list[tuple[str, str, str]]:
    """(kind, name, expr) of every rule: kind is `alert` or `record`, name the alert's or the
    recorded series' name (its keys may come in any order). An expression runs on while the lines
    are indented deeper than its key (or blank)."""
    lines = text.splitlines()
    rules: list[list[str]] = []
    item: list[int] = []  # indices in `rules` of the current list item's expressions
    current = ["rule", "?"]
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if re.match(r"\s*-\s", line):  # a new list item: a new rule (or group)
            item, current = [], ["rule", "?"]
        match = RULE_KEY.match(line)
        if not match:
            continue
        key, value = match.group("key"), match.group("value")
        if key in ("alert", "record"):
            current = [key, re.sub(r"\s+#.*$", "", value).strip().strip("'\"")]
            for index in item:
                rules[index][:2] = current
            continue
        column = len(match.group("indent"))
        continuation = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > column):
            continuation.append(lines[i])
            i += 1
        item.append(len(rules))
        rules.append([current[0], current[1], _scalar(value, continuation)])
    return [(kind, name, expr) for kind, name, expr in rules]


def check_rules(path: str, uses: Uses) -> tuple[list[str], set[str]]:
    """Adds the rules' metric names to `uses`; returns (problems, names recorded by rules)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as error:
        raise CannotRun(f"cannot read the rules {path}: {error.strerror}") from error
    rules = rule_expressions(text)
    if not rules:
        return [f"{path}: no rule with an expr"], set()
    recorded = set()
    for kind, name, expr in rules:
        if kind == "record":
            recorded.add(name)
        uses.add(expr, f"{path} ({kind} {name})")
    return [], recorded


# ---------------------------------------------------------------------------------------------
# promtool


def rules_test_path(rules: str) -> str:
    """The unit tests beside the rules: graph-relay-rules.yml -> graph-relay-rules.test.yml."""
    stem, extension = os.path.splitext(rules)
    return stem + ".test" + (extension or ".yml")


def run_promtool(promtool: str, rules: str) -> list[str]:
    executable = shutil.which(promtool)
    if executable is None:
        raise CannotRun(f"promtool not found ({promtool}): install it (Debian: apt-get install "
                        "prometheus; or a Prometheus release archive) or pass --promtool PATH; "
                        "--no-promtool skips the rule checks")
    problems = []
    tests = rules_test_path(rules)
    commands = [[executable, "check", "rules", rules]]
    if os.path.isfile(tests):
        commands.append([executable, "test", "rules", tests])
    else:
        problems.append(f"{rules}: no rule unit tests beside it ({tests})")
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            problems.append(f"{' '.join(['promtool'] + command[1:])} failed:\n" +
                            "\n".join("    " + line for line in output.splitlines()))
    return problems


# ---------------------------------------------------------------------------------------------


def shown(path: str) -> str:
    """`path` as messages name it: relative to the working directory when it lies below it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def check(metrics: str, dashboard: str, rules: str, promtool: str | None) -> tuple[list[str], int]:
    """(problems, number of metric names used). Raises CannotRun."""
    dashboard, rules = shown(dashboard), shown(rules)
    problems: list[str] = []
    if promtool is not None:
        problems += run_promtool(promtool, rules)

    try:
        if metrics == "-":
            text, source = sys.stdin.read(), "<stdin>"
        else:
            with open(metrics, encoding="utf-8") as f:
                text, source = f.read(), metrics
    except OSError as error:
        raise CannotRun(f"cannot read the metrics {metrics}: {error.strerror}") from error
    families = parse_exposition(text, source)
    if not families:
        raise CannotRun(f"{source}: no metrics in it")

    uses = Uses()
    problems += check_dashboard(dashboard, uses)
    rule_problems, recorded = check_rules(rules, uses)
    problems += rule_problems

    used: dict[str, list[str]] = {}
    for name, places in uses.by_name.items():
        if name in recorded:
            continue
        resolved = name if name in families else (histogram_base(name, families) or name)
        for place in places:
            if place not in used.setdefault(resolved, []):
                used[resolved].append(place)
    for name in sorted(used):
        if name not in families:
            what = name
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix):
                    what = f"{name} (a series of the histogram {name[:-len(suffix)]})"
            problems.append(f"{what} is not exported by {source}; used by " + "; ".join(used[name]))
    return problems, len(used)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check the Grafana dashboard and Prometheus rules against the relay's /metrics.")
    parser.add_argument("--metrics", required=True, metavar="FILE",
                        help="the relay's /metrics output (Prometheus text exposition); - for stdin")
    parser.add_argument("--dashboard", default=DEFAULT_DASHBOARD, metavar="JSON",
                        help="Grafana dashboard (default: deploy/grafana/graph-relay.json)")
    parser.add_argument("--rules", default=DEFAULT_RULES, metavar="YAML",
                        help="Prometheus rules (default: deploy/prometheus/graph-relay-rules.yml); "
                             "its unit tests are the .test.yml beside it")
    parser.add_argument("--promtool", default="promtool", metavar="PATH",
                        help="the promtool to run (default: promtool on PATH)")
    parser.add_argument("--no-promtool", action="store_true",
                        help="skip `promtool check rules` and `promtool test rules`")
    args = parser.parse_args(argv)

    try:
        problems, count = check(args.metrics, args.dashboard, args.rules,
                                None if args.no_promtool else args.promtool)
    except CannotRun as error:
        print(f"check-monitoring: {error}", file=sys.stderr)
        return 2
    if problems:
        for problem in problems:
            print(f"check-monitoring: {problem}", file=sys.stderr)
        print(f"check-monitoring: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    checked = "" if args.no_promtool else "; promtool check and test rules passed"
    print(f"{count} metric names used by the dashboard and rules, all exported{checked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
