"""Self-tests of scripts/check-monitoring.py (a second or so; no promtool needed):

    python3 scripts/test_check_monitoring.py

They run the checker on small hand-written exposition texts, dashboards and rules in a temporary
directory, with --no-promtool: it passes when every family is exported (histograms referenced
through their _bucket series), fails naming a missing family and the file that uses it, rejects a
dashboard panel without targets or a dashboard without panels, and says promtool is missing
with exit status 2. They also read the shipped dashboard and rules: every panel has a query, and
every selector of the dashboard filters on the instance variable.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True

_spec = importlib.util.spec_from_file_location("check_monitoring", os.path.join(HERE, "check-monitoring.py"))
checker = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = checker  # dataclasses look their module up while it loads
_spec.loader.exec_module(checker)

EXPOSITION = """\
# HELP graph_relay_ready 1 when every readiness check passes.
# TYPE graph_relay_ready gauge
graph_relay_ready 1
# HELP graph_relay_deliveries_total Finished deliveries.
# TYPE graph_relay_deliveries_total counter
graph_relay_deliveries_total{application="contoso",outcome="delivered"} 4
graph_relay_deliveries_total{application="contoso",outcome="failed"} 0
# TYPE graph_relay_delivery_delay_seconds histogram
graph_relay_delivery_delay_seconds_bucket{le="0.5"} 3
graph_relay_delivery_delay_seconds_bucket{le="+Inf"} 4
graph_relay_delivery_delay_seconds_sum 1.75
graph_relay_delivery_delay_seconds_count 4
# TYPE graph_relay_build_info gauge
graph_relay_build_info{version="1.0.0",note="braces } and \\"quotes\\" in a value"} 1
"""

RULES = """\
groups:
  - name: graph-relay
    rules:
      - alert: Failing
        expr: increase(graph_relay_deliveries_total{outcome="failed"}[15m]) > 0
        for: 0m
      - alert: NotReady
        expr: |
          graph_relay_ready == 0
          # graph_relay_in_a_promql_comment is not a metric name
        for: 5m
      - expr: >-
          sum by (instance) (graph_relay_deliveries_total)
        record: graph_relay_recorded_total
"""


def panel(title, *exprs, panel_id=1, kind="timeseries"):
    targets = [{"refId": chr(ord("A") + i), "expr": expr} for i, expr in enumerate(exprs)]
    return {"id": panel_id, "type": kind, "title": title, "targets": targets}


def dashboard(*panels):
    return {
        "title": "test",
        "panels": list(panels),
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "instance", "type": "query",
             "query": {"query": "label_values(graph_relay_build_info, instance)"}},
        ]},
    }


GOOD_PANELS = (
    {"id": 1, "type": "row", "title": "Flow", "collapsed": False, "panels": []},
    panel("Delay", 'histogram_quantile(0.95, sum by (le) (rate(graph_relay_delivery_delay_seconds_bucket[5m])))',
          panel_id=2),
    {"id": 3, "type": "row", "title": "Collapsed", "collapsed": True, "panels": [
        panel("Delivered", 'sum(rate(graph_relay_deliveries_total{outcome="delivered", note="graph_relay_not_a_name"}[5m]))',
              'graph_relay_recorded_total', panel_id=4),
    ]},
    {"id": 5, "type": "text", "title": "Read me", "options": {"content": "no query here"}},
)


class CheckerRun(unittest.TestCase):
    """Runs the checker's main() on files in a temporary directory."""

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)

    def write(self, name, text):
        path = os.path.join(self.directory.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def run_checker(self, exposition=EXPOSITION, board=None, rules=RULES, extra=("--no-promtool",)):
        board = dashboard(*GOOD_PANELS) if board is None else board
        args = ["--metrics", self.write("metrics.txt", exposition),
                "--dashboard", self.write("dashboard.json", json.dumps(board)),
                "--rules", self.write("rules.yml", rules), *extra]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = checker.main(args)
        return status, out.getvalue(), err.getvalue()


class PassingTests(CheckerRun):
    def test_passes_when_every_family_is_exported(self):
        status, out, err = self.run_checker()
        self.assertEqual(status, 0, err)
        # ready, deliveries_total, delivery_delay_seconds (through _bucket), build_info (a variable).
        self.assertEqual(out.strip(), "4 metric names used by the dashboard and rules, all exported")
        self.assertEqual(err, "")

    def test_bucket_samples_without_a_type_count_under_their_own_name(self):
        # _bucket samples without `# TYPE … histogram` are an untyped family of that name: still
        # exported under the name the dashboard uses.
        untyped = EXPOSITION.replace("# TYPE graph_relay_delivery_delay_seconds histogram\n", "")
        status, _, err = self.run_checker(exposition=untyped)
        self.assertEqual(status, 0, err)


class MissingNameTests(CheckerRun):
    def test_fails_naming_a_missing_family_and_where_it_is_used(self):
        without_ready = "\n".join(line for line in EXPOSITION.splitlines() if "graph_relay_ready" not in line)
        status, out, err = self.run_checker(exposition=without_ready)
        self.assertEqual(status, 1)
        self.assertEqual(out, "")
        line = next(line for line in err.splitlines() if "graph_relay_ready" in line)
        self.assertIn("graph_relay_ready is not exported", line)
        self.assertIn("rules.yml (alert NotReady)", line)
        self.assertNotIn("dashboard.json", line)

    def test_fails_naming_a_missing_histogram_used_through_its_buckets(self):
        without_delay = "\n".join(line for line in EXPOSITION.splitlines() if "delivery_delay" not in line)
        status, _, err = self.run_checker(exposition=without_delay)
        self.assertEqual(status, 1)
        self.assertIn("graph_relay_delivery_delay_seconds_bucket (a series of the histogram "
                      "graph_relay_delivery_delay_seconds) is not exported", err)
        self.assertIn('dashboard.json (panel "Delay" (id 2))', err)

    def test_a_name_in_a_templating_query_counts(self):
        without_info = "\n".join(line for line in EXPOSITION.splitlines() if "build_info" not in line)
        status, _, err = self.run_checker(exposition=without_info)
        self.assertEqual(status, 1)
        self.assertIn('graph_relay_build_info is not exported', err)
        self.assertIn('(variable "instance")', err)

    def test_every_missing_name_is_listed(self):
        status, _, err = self.run_checker(exposition="# TYPE graph_relay_other gauge\ngraph_relay_other 1\n")
        self.assertEqual(status, 1)
        for name in ("graph_relay_ready", "graph_relay_deliveries_total",
                     "graph_relay_delivery_delay_seconds_bucket", "graph_relay_build_info"):
            self.assertIn(name + " ", err)
        self.assertIn("4 problem(s)", err)


class DashboardShapeTests(CheckerRun):
    def test_rejects_a_panel_without_targets(self):
        empty = {"id": 9, "type": "stat", "title": "Forgotten", "targets": []}
        status, _, err = self.run_checker(board=dashboard(*GOOD_PANELS, empty))
        self.assertEqual(status, 1)
        self.assertIn('panel "Forgotten" (id 9) has no targets', err)

    def test_rejects_a_panel_without_targets_inside_a_collapsed_row(self):
        row = {"id": 10, "type": "row", "title": "More", "collapsed": True,
               "panels": [{"id": 11, "type": "timeseries", "title": "Nested"}]}
        status, _, err = self.run_checker(board=dashboard(*GOOD_PANELS, row))
        self.assertEqual(status, 1)
        self.assertIn('panel "Nested" (id 11) has no targets', err)

    def test_rejects_a_target_without_an_expression(self):
        status, _, err = self.run_checker(board=dashboard(*GOOD_PANELS, panel("Blank", "  ", panel_id=12)))
        self.assertEqual(status, 1)
        self.assertIn('panel "Blank" (id 12), target A, has no expression', err)

    def test_rejects_a_dashboard_without_panels(self):
        status, _, err = self.run_checker(board=dashboard({"id": 1, "type": "row", "title": "Empty", "panels": []}))
        self.assertEqual(status, 1)
        self.assertIn("the dashboard has no panels", err)

    def test_rejects_a_dashboard_that_is_not_json(self):
        args = ["--metrics", self.write("m.txt", EXPOSITION), "--dashboard", self.write("d.json", "{panels: ["),
                "--rules", self.write("r.yml", RULES), "--no-promtool"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertEqual(checker.main(args), 1)
        self.assertIn("not valid JSON", err.getvalue())


class CannotRunTests(CheckerRun):
    def test_missing_promtool_is_exit_status_2(self):
        status, out, err = self.run_checker(extra=("--promtool", os.path.join(self.directory.name, "no-promtool")))
        self.assertEqual(status, 2)
        self.assertEqual(out, "")
        self.assertIn("promtool not found", err)
        self.assertIn("--no-promtool", err)

    def test_text_that_is_not_exposition_is_exit_status_2(self):
        status, _, err = self.run_checker(exposition="graph_relay_ready one\n")
        self.assertEqual(status, 2)
        self.assertIn("metrics.txt:1: not a sample line", err)


class ParsingTests(unittest.TestCase):
    def test_exposition_families_and_types(self):
        families = checker.parse_exposition(EXPOSITION)
        self.assertEqual(families["graph_relay_delivery_delay_seconds"].type, "histogram")
        self.assertEqual(families["graph_relay_delivery_delay_seconds"].samples, 4)
        self.assertEqual(families["graph_relay_deliveries_total"].type, "counter")
        self.assertEqual(families["graph_relay_deliveries_total"].help, "Finished deliveries.")
        self.assertEqual(families["graph_relay_build_info"].samples, 1)
        self.assertNotIn("graph_relay_delivery_delay_seconds_bucket", families)

    def test_samples_with_timestamps_and_special_values(self):
        families = checker.parse_exposition("a_total 1 1700000000000\nb NaN\nc +Inf\nd -1.5e-3\n")
        self.assertEqual(sorted(families), ["a_total", "b", "c", "d"])
        self.assertTrue(all(family.type == "untyped" for family in families.values()))

    def test_names_in_promql_leave_out_strings_comments_functions_and_variables(self):
        expr = ('histogram_quantile(0.9, sum by (le) (rate(graph_relay_x_bucket{a="graph_relay_no"}[$__rate_interval])))'
                ' / on() group_left up{job="graph-relay"} + $graph_relay_var  # graph_relay_comment')
        self.assertEqual(checker.metric_names(expr), {"graph_relay_x_bucket"})

    def test_rule_expressions_in_every_scalar_style(self):
        more = textwrap.indent(textwrap.dedent("""\
            - alert: Quoted
              expr: "graph_relay_a{x=\\"y\\"} > 0"
            - alert: Plain
              expr: graph_relay_b
                > 0
              for: 1m
            """), " " * 6)
        rules = checker.rule_expressions(RULES + more)
        by_name = {name: (kind, " ".join(expr.split())) for kind, name, expr in rules}
        self.assertEqual(by_name["Failing"], ("alert", 'increase(graph_relay_deliveries_total{outcome="failed"}[15m]) > 0'))
        self.assertEqual(by_name["NotReady"][1],
                         "graph_relay_ready == 0 # graph_relay_in_a_promql_comment is not a metric name")
        self.assertEqual(by_name["graph_relay_recorded_total"], ("record", "sum by (instance) (graph_relay_deliveries_total)"))
        self.assertEqual(by_name["Quoted"][1], 'graph_relay_a{x="y"} > 0')
        self.assertEqual(by_name["Plain"][1], "graph_relay_b > 0")

    def test_the_rule_tests_sit_beside_the_rules(self):
        self.assertEqual(checker.rules_test_path("deploy/prometheus/graph-relay-rules.yml"),
                         "deploy/prometheus/graph-relay-rules.test.yml")


class ShippedFilesTests(unittest.TestCase):
    """The dashboard and rules in deploy/, read as the checker reads them."""

    def test_every_panel_has_a_query_and_every_selector_filters_the_instance(self):
        uses = checker.Uses()
        path = os.path.join(ROOT, "deploy", "grafana", "graph-relay.json")
        self.assertEqual(checker.check_dashboard(path, uses), [])
        with open(path, encoding="utf-8") as f:
            board = json.load(f)
        exprs = [t["expr"] for p in checker.walk_panels(board) for t in p.get("targets", [])]
        self.assertGreater(len(exprs), 20)
        for expr in exprs:
            for selector in re.finditer(r"graph_relay_\w+(\{[^}]*\})?", expr):
                self.assertIn('instance=~"$instance"', selector.group(1) or "", expr)

    def test_the_rules_use_only_our_names_and_name_every_alert(self):
        uses = checker.Uses()
        problems, recorded = checker.check_rules(os.path.join(ROOT, "deploy", "prometheus", "graph-relay-rules.yml"), uses)
        self.assertEqual((problems, recorded), ([], set()))
        alerts = {place.split("(alert ")[1].rstrip(")") for places in uses.by_name.values() for place in places}
        self.assertEqual(alerts, {"GraphRelayQueueStuck", "GraphRelayTokenFailing", "GraphRelayDeliveriesFailing",
                                  "GraphRelayNotReady", "GraphRelayThrottled", "GraphRelayConfigReloadFailed"})


if __name__ == "__main__":
    unittest.main()
