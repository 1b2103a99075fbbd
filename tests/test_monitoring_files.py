"""The operators' files in deploy/: the alerting rules and the Grafana dashboard are well formed,
and every metric and label they query is one a real server's /metrics exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness import Server, fast_password_hashing, listening, team

_ = fast_password_hashing  # autouse in this module: cheap argon2id for the signups below

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "tandem-alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "tandem-dashboard.json"
README = DEPLOY / "README.md"

SCRAPE_JOB = "tandem"  # the job name the rules and the dashboard select, and the README configures
SEVERITIES = {"critical", "warning"}
DATASOURCE = "${DS_PROMETHEUS}"

TANDEM_METRIC = re.compile(r"\btandem_[a-z_]+")
# Series and labels Prometheus adds itself to every scrape target.
SCRAPE_SERIES = re.compile(r"\bup\{")
TARGET_LABELS = {"job", "instance"}
# Families this test's traffic leaves without samples: a refusal needs a limit passed, a drop a
# socket that stops reading, a replaced value one that falls behind. /metrics shows only their
# `# TYPE` line until then.
UNOBSERVED = {
    "tandem_rate_limited_total",
    "tandem_dropped_events_total",
    "tandem_coalesced_events_total",
}


# -- reading the files ------------------------------------------------------------


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside rows (collapsed rows hold theirs) included."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every query the two files make: rules, panel targets, variables."""
    found = [(f"rule {rule['alert']}", rule["expr"]) for rule in rules()]
    board = dashboard()
    for panel in panels(board):
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            found.append((f"variable {variable['name']}", text))
    return found


def label_references() -> list[tuple[str, str]]:
    """(where, label name) for every label a query, legend or annotation names."""
    found: list[tuple[str, str]] = []
    for where, expr in queries():
        for name in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"", expr):  # matchers
            found.append((where, name))
        for group in re.findall(
            r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr
        ):
            found += [(where, name.strip()) for name in group.split(",") if name.strip()]
        for name in re.findall(r"label_values\([^,()]*,\s*(\w+)\s*\)", expr):
            found.append((where, name))
    for panel in panels(dashboard()):
        for target in panel.get("targets", []):
            for name in re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")):
                found.append((f"panel {panel['title']!r} legend", name))
    for rule in rules():
        for text in rule["annotations"].values():
            for name in re.findall(r"\$labels\.(\w+)", text):
                found.append((f"rule {rule['alert']} annotations", name))
    return found


def balanced(expr: str) -> bool:
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for char in re.sub(r'"[^"]*"', '""', expr):  # brackets inside label values do not count
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


# -- reading /metrics ---------------------------------------------------------------


def exported(text: str) -> tuple[set[str], set[str], set[str]]:
    """Series names with samples, series names a `# TYPE` line promises, and label names seen."""
    sampled: set[str] = set()
    typed: set[str] = set()
    labels: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            if kind == "histogram":
                typed |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            elif kind == "counter":
                typed |= {name, name if name.endswith("_total") else f"{name}_total"}
            else:
                typed.add(name)
        elif line and not line.startswith("#"):
            match = re.match(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? ", line)
            assert match, line
            sampled.add(match.group(1))
            labels |= set(re.findall(r'(\w+)="', match.group(2) or ""))
    return sampled, typed, labels


def unknown_metrics(found: list[tuple[str, str]], text: str) -> list[str]:
    """The tandem_* names the queries use that /metrics does not export (with samples, or for
    the UNOBSERVED families, with a `# TYPE` line), each with where it is used."""
    sampled, typed, _ = exported(text)
    known = sampled | (typed & UNOBSERVED)
    return [
        f"{where}: {name}"
        for where, expr in found
        for name in TANDEM_METRIC.findall(expr)
        if name not in known
    ]


def unknown_labels(found: list[tuple[str, str]], text: str) -> list[str]:
    _, _, labels = exported(text)
    return [f"{where}: {name}" for where, name in found if name not in labels | TARGET_LABELS]


# -- the rules ----------------------------------------------------------------------


def test_alerting_rules_parse_and_each_is_complete() -> None:
    document = yaml.safe_load(RULES.read_text())
    assert document["groups"], "no rule groups"
    names: list[str] = []
    for group in document["groups"]:
        assert group["name"] and group["rules"], group
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"]), rule
            names.append(rule["alert"])
            assert isinstance(rule["expr"], str) and rule["expr"].strip(), rule
            assert balanced(rule["expr"]), rule["expr"]
            assert re.fullmatch(r"\d+[smh]", str(rule["for"])), rule
            assert rule["labels"]["severity"] in SEVERITIES, rule
            for key in ("summary", "description"):
                assert rule["annotations"][key].strip(), (rule["alert"], key)
    assert len(names) == len(set(names)), names


# -- the dashboard --------------------------------------------------------------------


def test_dashboard_loads_and_every_panel_has_a_title_and_queries() -> None:
    board = dashboard()
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["uid"] and board["title"]
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"

    all_panels = list(panels(board))
    ids = [panel["id"] for panel in all_panels]
    assert len(ids) == len(set(ids)), ids
    graphs = [panel for panel in all_panels if panel["type"] != "row"]
    assert len(graphs) >= 10
    for panel in all_panels:
        assert panel.get("title", "").strip(), panel
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
    for panel in graphs:
        assert panel["datasource"]["uid"] == DATASOURCE, panel["title"]
        targets = panel.get("targets")
        assert targets, f"panel {panel['title']!r} has no targets"
        ref_ids = [target["refId"] for target in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in targets:
            assert target["datasource"]["uid"] == DATASOURCE, panel["title"]
            assert target["expr"].strip() and balanced(target["expr"]), target

    # Every $variable a query uses is one the dashboard defines, or one of Grafana's own ($__…).
    for where, expr in queries():
        for name in re.findall(r"\$\{?(\w+)", expr):
            assert name in variables or name.startswith("__"), (where, name)


# -- against a real server ---------------------------------------------------------


def test_the_scrape_job_is_the_one_the_readme_configures() -> None:
    assert f"job_name: {SCRAPE_JOB}" in README.read_text()
    for where, expr in queries():
        for selector in re.findall(r"\bup\{[^}]*\}", expr):
            assert f'job="{SCRAPE_JOB}"' in selector, (where, selector)


async def test_every_metric_and_label_they_query_is_exported(sqlite_server: Server) -> None:
    org_id, (owner, member) = await team(sqlite_server, ["Owner", "Member"])
    async with listening(member, f"org:{org_id}") as listener, owner.http() as http:
        r = await http.patch(f"/api/orgs/{org_id}/members/{member.id}", json={"role": "Admin"})
        assert r.status_code == 200, r.text
        await listener.wait_event("org.member.updated")  # events emitted, dispatch lag
        async with listening(owner) as returning:  # a client coming back: a replay
            ack = await returning.subscribe(f"org:{org_id}", after=0)
            assert ack["ok"] and ack["replayed"] > 0, ack
        samples = [{"event": "org.member.updated", "ms": 40}]  # what the SDK reports
        r = await http.post("/api/telemetry/latency", json={"samples": samples})
        assert r.status_code == 204, r.text
        r = await http.put(f"/api/orgs/{org_id}/flags/members", json={"state": "soak"})
        assert r.status_code == 200, r.text  # a flag change by hand
        drift = {  # what a soaking client reports
            "phase": "members",
            "room": f"org:{org_id}",
            "eventTypes": ["org.member.updated"],
            "fields": [f"{member.id}.role"],
            "traceIds": [],
            "seq": None,
        }
        r = await http.post(f"/api/orgs/{org_id}/realtime/drift", json=drift)
        assert r.status_code == 204, r.text
        # No rollback here (tests/flags make real ones): its family gets a child to be seen.
        sqlite_server.runtime.metrics.flag_rollbacks.labels("members", "latency")
        async with httpx.AsyncClient(base_url=sqlite_server.url) as anonymous:  # a refused socket
            r = await anonymous.get(
                "/socket.io/",
                params={"EIO": "4", "transport": "polling"},
                headers={"Origin": "http://evil.example"},
            )
            assert r.status_code == 400, r.text
        await sqlite_server.settle()
        async with sqlite_server.client() as scraper:
            text = (await scraper.get("/metrics")).text

        found = queries()
        for where, expr in found:  # each query reads a Tandem series (or the scrape's own `up`)
            assert TANDEM_METRIC.search(expr) or SCRAPE_SERIES.search(expr), where
        used = {name for _, expr in found for name in TANDEM_METRIC.findall(expr)}
        print(f"\n{len(found)} queries name {len(used)} series: {', '.join(sorted(used))}")
        missing = unknown_metrics(found, text)
        assert not missing, "not in /metrics:\n" + "\n".join(missing)
        # The check itself: a misspelt name, or a histogram queried without its suffix, is caught.
        assert unknown_metrics([("probe", "sum(tandem_conections)")], text) == [
            "probe: tandem_conections"
        ]
        assert unknown_metrics([("probe", "rate(tandem_dispatch_lag_seconds[5m])")], text)

        # Label names: give the families nothing here has observed a child each (their labels do
        # not show until then), and read /metrics again.
        sqlite_server.runtime.metrics.rate_limited.labels("probe")
        sqlite_server.runtime.metrics.dropped.labels("probe")
        sqlite_server.runtime.metrics.coalesced.labels("probe")
        async with sqlite_server.client() as scraper:
            text = (await scraper.get("/metrics")).text
        labels = label_references()
        print(f"{len(labels)} label references: {', '.join(sorted({n for _, n in labels}))}")
        missing = unknown_labels(labels, text)
        assert not missing, "no such label in /metrics:\n" + "\n".join(missing)
        assert unknown_labels([("probe", "evnet")], text) == ["probe: evnet"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool
    result = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
