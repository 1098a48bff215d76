#!/usr/bin/env python3
"""Writes Sluice's Grafana dashboards (dashboards/*.json) from the compact description below: classic JSON
model, schemaVersion 39, file-provisionable (a `datasource` variable, every query on `${datasource}`), a
`tenant` variable used as tenant=~"$tenant", `$__rate_interval` in every rate/increase, a unit, title and
description on every panel, rows for sections and a grid without overlaps. Run it after editing; `--check` only
says whether the JSON files are what it writes. The test suite runs the check and holds the JSON to the rules
(Tests/SluiceServerTests/DashboardTests.swift)."""
import json
import os
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
T = 'tenant=~"$tenant"'
RI = "$__rate_interval"


def rate(metric, by, extra=""):
    selector = "{" + T + (", " + extra if extra else "") + "}"
    return f"sum by ({by}) (rate({metric}{selector}[{RI}]))"


def quantile(q, metric, by="", extra=""):
    selector = "{" + T + (", " + extra if extra else "") + "}"
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{selector}[{RI}])))"


def panel(title, description, exprs, unit, kind="timeseries", width=12, height=8):
    return {"title": title, "description": description, "exprs": exprs, "unit": unit, "type": kind, "w": width, "h": height}


def row(title, description):
    return {"row": title, "description": description}


def build(uid, title, description, items, tenant_multi=True, tenant=True):
    panels = []
    next_id = 1
    x = y = row_height = 0
    for item in items:
        if "row" in item:
            if x:
                y += row_height
                x = row_height = 0
            panels.append({"id": next_id, "type": "row", "title": item["row"], "description": item["description"],
                           "collapsed": False, "panels": [], "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
            next_id += 1
            y += 1
            continue
        if x + item["w"] > 24:
            y += row_height
            x = row_height = 0
        body = {
            "id": next_id, "type": item["type"], "title": item["title"], "description": item["description"], "datasource": DS,
            "gridPos": {"h": item["h"], "w": item["w"], "x": x, "y": y},
            "targets": [{"datasource": DS, "refId": chr(65 + i), "expr": expr, "legendFormat": legend,
                         "range": item["type"] != "table", "instant": item["type"] == "table",
                         **({"format": "table"} if item["type"] == "table" else {})}
                        for i, (expr, legend) in enumerate(item["exprs"])],
        }
        if item["type"] == "table":
            body["fieldConfig"] = {"defaults": {"unit": item["unit"]}, "overrides": []}
            body["options"] = {"showHeader": True}
        else:
            body["fieldConfig"] = {"defaults": {"unit": item["unit"]}, "overrides": []}
            if item["type"] == "timeseries":
                body["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                                   "tooltip": {"mode": "multi", "sort": "desc"}}
            else:
                body["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
        panels.append(body)
        next_id += 1
        x += item["w"]
        row_height = max(row_height, item["h"])
    tenant_query = 'label_values({__name__=~"sluice_ingest_rows_total|sluice_stream_messages_total|sluice_staged_files"}, tenant)'
    return {
        "uid": uid, "title": title, "description": description, "tags": ["sluice"], "schemaVersion": 39, "version": 1,
        "editable": True, "graphTooltip": 1, "time": {"from": "now-1h", "to": "now"}, "refresh": "30s", "timezone": "",
        "annotations": {"list": []}, "links": [],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "current": {},
             "hide": 0, "includeAll": False, "multi": False, "refresh": 1, "regex": "", "options": []},
        ] + ([
            {"name": "tenant", "label": "Tenant", "type": "query", "datasource": DS,
             "query": {"query": tenant_query, "refId": "tenant"}, "definition": tenant_query, "current": {}, "hide": 0,
             "refresh": 2, "sort": 1, "regex": "", "multi": tenant_multi, "includeAll": tenant_multi,
             **({"allValue": ".*"} if tenant_multi else {}), "options": []},
        ] if tenant else [])},
        "panels": panels,
    }


# Panels both the Overview and the Tenant dashboards show.
REJECTS = panel("Rejected rows by reason", "Rows rejected per second, by reason (schema, type, primary key...).",
                [(rate("sluice_ingest_rejected_rows_total", "reason"), "{{reason}}")], "suffix:rows/s", width=8)
E2E_LATENCY = panel("End-to-end latency", "Received to committed, per file: 50th, 95th and 99th percentiles from the histogram.",
                    [(quantile(q, "sluice_ingest_latency_seconds"), f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)], "s")
ACK_LATENCY = panel("Stream acknowledgement latency", "Stream request arrival to answer: 50th and 99th percentiles.",
                    [(quantile(q, "sluice_stream_ack_latency_seconds"), f"p{int(q * 100)}") for q in (0.5, 0.99)], "s")

OVERVIEW = [
    row("Throughput", "What the tenants send and what is committed, batch and stream."),
    panel("Batch rows ingested", "Rows committed from files per second, by tenant.",
          [(rate("sluice_ingest_rows_total", "tenant"), "{{tenant}}")], "suffix:rows/s", width=8),
    panel("Stream messages accepted", "Stream messages accepted and committed per second, by tenant.",
          [(rate("sluice_stream_messages_total", "tenant", 'outcome="accepted"'), "{{tenant}}")], "suffix:msg/s", width=8),
    panel("Bytes ingested", "Bytes per second from files (batch) and stream requests, by tenant.",
          [(rate("sluice_ingest_bytes_total", "tenant"), "batch {{tenant}}"),
           (rate("sluice_stream_bytes_total", "tenant"), "stream {{tenant}}")], "Bps", width=8),
    panel("Files by outcome", "Files finished per second, by outcome (succeeded, partial, failed).",
          [(rate("sluice_ingest_files_total", "outcome"), "{{outcome}}")], "suffix:files/s", width=8),
    panel("Stream messages by outcome", "Stream messages per second, accepted or rejected.",
          [(rate("sluice_stream_messages_total", "outcome"), "{{outcome}}")], "suffix:msg/s", width=8),
    REJECTS,
    row("Latency", "From arrival to commit (files), and from request to answer (stream)."),
    E2E_LATENCY,
    ACK_LATENCY,
    row("Queues and instances", "Work waiting, stream app instances, and requests refused."),
    panel("Queued files", "Files staged and waiting for ingestion, by tenant.",
          [(f"sum by (tenant) (sluice_staged_files{{{T}}})", "{{tenant}}")], "short", width=6),
    panel("Oldest queued file", "How long the oldest queued file has waited, by tenant.",
          [(f"max by (tenant) (sluice_ingest_queue_oldest_age_seconds{{{T}}})", "{{tenant}}")], "s", width=6),
    panel("Stream queue depth", "Messages waiting in each tenant's stream queue.",
          [(f"sum by (tenant) (sluice_stream_queue_messages{{{T}}})", "{{tenant}}")], "short", width=6),
    panel("Stream instances", "Stream app instances running and desired, by tenant.",
          [(f"sum by (tenant, state) (sluice_stream_instances{{{T}}})", "{{tenant}} {{state}}")], "short", width=6),
    panel("429s by reason", "Stream requests refused per second: backpressure (queue full) or rate limited.",
          [(rate("sluice_stream_throttled_total", "reason"), "{{reason}}")], "reqps", width=12),
    panel("Availability", "Share of files that did not fail over the range, and whether every instance is ready.",
          [(f'sum(increase(sluice_ingest_files_total{{{T}, outcome!="failed"}}[$__range])) / sum(increase(sluice_ingest_files_total{{{T}}}[$__range]))', "files"),
           ("min(sluice_ready)", "ready")], "percentunit", kind="stat", width=12),
    row("Alerts and objectives", "Sluice's own monitor: its alerts and service level objectives."),
    panel("Alerts firing by severity", "Alerts firing now in Sluice's monitor, by severity.",
          [(f'sum by (severity) (sluice_alerts{{{T}, state="firing"}})', "{{severity}}")], "short", kind="stat", width=8),
    panel("Error budget remaining", "Share of each objective's error budget left (1 untouched, 0 spent).",
          [(f"min by (slo, tenant) (sluice_slo_error_budget_remaining_ratio{{{T}}})", "{{slo}} {{tenant}}")], "percentunit", width=8),
    panel("Burn rates", "How fast each objective burns its budget, by window (1 = exactly the sustainable rate).",
          [(f"max by (slo, tenant, window) (sluice_slo_burn_rate{{{T}}})", "{{slo}} {{tenant}} {{window}}")], "short", width=8),
]

TENANT = [
    row("Ingestion", "The tenant's rates, rejects and latency."),
    panel("Rows and messages", "Rows committed from files and stream messages accepted, per second.",
          [(rate("sluice_ingest_rows_total", "tenant"), "batch rows"),
           (rate("sluice_stream_messages_total", "tenant", 'outcome="accepted"'), "stream messages")], "suffix:/s", width=8),
    panel("Bytes", "Bytes per second from files and stream requests.",
          [(rate("sluice_ingest_bytes_total", "tenant"), "batch"), (rate("sluice_stream_bytes_total", "tenant"), "stream")], "Bps", width=8),
    REJECTS,
    E2E_LATENCY,
    ACK_LATENCY,
    row("Staging and quota", "Files waiting and the storage they use."),
    panel("Storage quota used", "Share of the tenant's storage quota its staging area uses.",
          [(f"max(sluice_storage_quota_usage_ratio{{{T}}})", "quota")], "percentunit", kind="gauge", width=6),
    panel("Staged files", "Files staged and waiting for ingestion.",
          [(f"sum(sluice_staged_files{{{T}}})", "files")], "short", kind="stat", width=6),
    panel("Staged bytes", "Bytes staged and waiting for ingestion.",
          [(f"sum(sluice_staged_bytes{{{T}}})", "bytes")], "bytes", kind="stat", width=6),
    panel("Oldest queued file", "How long the oldest queued file has waited.",
          [(f"max(sluice_ingest_queue_oldest_age_seconds{{{T}}})", "age")], "s", kind="stat", width=6),
    row("Stream", "The tenant's stream queue, instances and the actions taken on them."),
    panel("Stream queue", "Messages waiting in the tenant's stream queue.",
          [(f"sum(sluice_stream_queue_messages{{{T}}})", "messages")], "short", width=8),
    panel("Instances", "Stream app instances running and desired.",
          [(f"sum by (state) (sluice_stream_instances{{{T}}})", "{{state}}")], "short", width=8),
    panel("Actions", "Stream manager actions per second, by action and outcome (alerts, admins).",
          [(rate("sluice_stream_actions_total", "action, outcome"), "{{action}} {{outcome}}")], "suffix:/s", width=8),
    row("Alerts", "What Sluice's monitor says about the tenant."),
    panel("Firing alerts", "The tenant's alerts firing now, with their labels.",
          [(f'sluice_alerts{{{T}, state="firing"}}', "{{alertname}}")], "short", kind="table", width=24),
]

INTERNALS = [
    row("HTTP", "The front door: requests, durations, errors and connections."),
    panel("Requests by route", "Requests per second, by route template and status code.",
          [(f"sum by (route, code) (rate(sluice_http_requests_total[{RI}]))", "{{route}} {{code}}")], "reqps", width=8),
    panel("Request duration p99 by route", "99th percentile of the request duration, by route.",
          [(f"histogram_quantile(0.99, sum by (le, route) (rate(sluice_http_request_duration_seconds_bucket[{RI}])))", "{{route}}")], "s", width=8),
    panel("Server errors by route", "5xx answers and aborted requests per second, by route.",
          [(f'sum by (route) (rate(sluice_http_requests_total{{code=~"5..|aborted"}}[{RI}]))', "{{route}}")], "reqps", width=8),
    panel("Connections", "Open, suspended and refused connections, and requests in flight.",
          [("sum(sluice_http_connections)", "open"), ("sum(sluice_http_connections_suspended)", "suspended"),
           ("sum(sluice_http_requests_in_flight)", "in flight"),
           (f"sum(rate(sluice_http_connections_refused_total[{RI}]))", "refused/s")], "short"),
    panel("Slow clients and failed authentication", "Connections closed for slowness, and authentication failures, per second.",
          [(f"sum by (reason) (rate(sluice_http_slow_clients_closed_total[{RI}]))", "slow {{reason}}"),
           (f"sum by (reason) (rate(sluice_http_authentication_failures_total[{RI}]))", "auth {{reason}}")], "reqps"),
    row("Store", "PostgreSQL: the connection pool, errors, partitions and retention."),
    panel("Connection pool", "Pool connections open, in use, the maximum, and callers waiting.",
          [("sum(sluice_store_pool_connections)", "open"), ("sum(sluice_store_pool_connections_in_use)", "in use"),
           ("sum(sluice_store_pool_max_connections)", "max"), ("sum(sluice_store_pool_waiters)", "waiting")], "short", width=8),
    panel("Query errors by SQLSTATE class", "Failed queries per second, by SQLSTATE class (08 connection, 23 constraint, 40 conflict...).",
          [(f"sum by (sqlstate_class) (rate(sluice_store_query_errors_total[{RI}]))", "{{sqlstate_class}}")], "suffix:errors/s", width=8),
    panel("Report partitions", "Daily report partitions ahead, and rows that fell into the default partition.",
          [("min(sluice_report_daily_partitions_ahead)", "days ahead"), ("max(sluice_report_default_partition_rows)", "default rows")],
          "short", width=8),
    panel("Retention", "Files, reports and partitions removed by retention, per hour.",
          [(f"sum by (kind) (rate(sluice_retention_removed_total[{RI}])) * 3600", "{{kind}}")], "suffix:/h", width=24),
    row("Monitor and notifications", "Rule evaluation and the delivery of notifications."),
    panel("Rule evaluation duration", "99th percentile of one evaluation of every rule.",
          [(f"histogram_quantile(0.99, sum by (le) (rate(sluice_rule_evaluation_duration_seconds_bucket[{RI}])))", "p99")], "s", width=8),
    panel("Rule evaluation failures", "Failed evaluations per second, by rule.",
          [(f"sum by (rule) (rate(sluice_rule_evaluation_failures_total[{RI}]))", "{{rule}}")], "suffix:/s", width=8),
    panel("Notifications", "Notifications per second, by receiver, integration and outcome.",
          [(f"sum by (receiver, integration, outcome) (rate(sluice_notifications_total[{RI}]))", "{{receiver}} {{outcome}}")], "suffix:/s", width=8),
    panel("Notification delivery", "99th percentile of one delivery attempt, by integration.",
          [(f"histogram_quantile(0.99, sum by (le, integration) (rate(sluice_notification_duration_seconds_bucket[{RI}])))", "{{integration}}")], "s", width=8),
    panel("Notification queues", "Notifications waiting per receiver, and those dropped from a full queue per second.",
          [("sum by (receiver) (sluice_notification_queue)", "{{receiver}} waiting"),
           (f"sum by (receiver) (rate(sluice_notifications_dropped_total[{RI}]))", "{{receiver}} dropped/s")], "short", width=8),
    panel("Muted notifications", "Alerts held back by silences and inhibition, per second.",
          [(f"sum by (reason) (rate(sluice_notifications_muted_total[{RI}]))", "{{reason}}")], "suffix:/s", width=8),
    row("Process", "CPU, memory and file descriptors of each instance."),
    panel("CPU", "CPU seconds used per second, by instance.",
          [(f"sum by (instance) (rate(process_cpu_seconds_total{{job=\"sluice\"}}[{RI}]))", "{{instance}}")], "percentunit", width=8),
    panel("Memory", "Resident memory, by instance.",
          [('sum by (instance) (process_resident_memory_bytes{job="sluice"})', "{{instance}}")], "bytes", width=8),
    panel("File descriptors", "Open file descriptors against the limit, by instance.",
          [('sum by (instance) (process_open_fds{job="sluice"})', "{{instance}} open"),
           ('sum by (instance) (process_max_fds{job="sluice"})', "{{instance}} max")], "short", width=8),
]

DASHBOARDS = {
    "sluice-overview.json": build("sluice-overview", "Sluice / Overview",
                                  "Every tenant at a glance: throughput, latency, queues, instances, alerts and objectives.", OVERVIEW),
    "sluice-tenant.json": build("sluice-tenant", "Sluice / Tenant",
                                "One tenant: its rates, latency, rejects, quota, staged files, stream and alerts.", TENANT,
                                tenant_multi=False),
    "sluice-internals.json": build("sluice-internals", "Sluice / Internals",
                                   "The service itself: HTTP, the store, partitions and retention, the monitor, notifications and the process.",
                                   INTERNALS, tenant=False),
}

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    check = sys.argv[1:] == ["--check"]
    stale = []
    for name, dashboard in DASHBOARDS.items():
        text = json.dumps(dashboard, indent=2) + "\n"
        path = os.path.join(here, name)
        if check:
            with open(path) as current:
                if current.read() != text:
                    stale.append(name)
            continue
        with open(path, "w") as out:
            out.write(text)
        print(f"wrote dashboards/{name}: {len(dashboard['panels'])} panels")
    if stale:
        sys.exit("not what generate.py writes (edit generate.py and run it): " + ", ".join(stale))
