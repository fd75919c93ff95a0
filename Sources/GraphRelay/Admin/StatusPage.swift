import Foundation
import GraphRelayDelivery
import GraphRelayMIME

/// The status page (`GET /` on the admin listener): one server-rendered HTML document with no
/// script and no external asset, for a person with a browser. Pure: it renders a ``Snapshot``.
/// Every string that came from a client or from Graph is escaped twice over: control characters
/// as by the logs (``UntrustedText``), then for HTML.
struct StatusPage {
    struct Token: Sendable {
        var application: String
        /// nil: no attempt yet.
        var obtained: Bool?
        var detail: String?
    }

    struct Snapshot: Sendable {
        var now: Date
        var version: String
        var hostname: String
        var readiness: ReadinessReport
        /// nil with `delivery: synchronous` (there is no queue).
        var queue: DeliveryScheduler.Snapshot?
        var failed: Int?
        var lastHour: DeliveryHistory.Totals
        var tokens: [Token]
        var recent: [DeliveryReport]
    }

    static func render(_ snapshot: Snapshot) -> String {
        var html = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        <title>graph-relay on \(escape(snapshot.hostname))</title>
        <style>
        body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
        h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
        table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:.9em}
        th{background:#f3f3f3}.ok{color:#176117}.bad{color:#a11}
        </style></head><body>
        <h1>graph-relay \(escape(snapshot.version)) on \(escape(snapshot.hostname))</h1>
        <p id="readiness" class="\(snapshot.readiness.isReady ? "ok" : "bad")">\(snapshot.readiness.isReady ? "Ready" : "Not ready")\
         — \(escape(timestamp(snapshot.now)))</p>

        """
        html += section("Checks", headers: ["check", "state", "detail"], rows: snapshot.readiness.checks.map { check in
            [escape(check.name), state(check.ok), escape(check.detail + (check.aadstsCode.map { " (AADSTS\($0))" } ?? ""))]
        })

        if let queue = snapshot.queue {
            let oldest = queue.oldest.map { "\(escape(timestamp($0))) (\(age(snapshot.now.timeIntervalSince($0))) ago)" } ?? "none"
            html += section("Queue", id: "queue", headers: ["state", "messages"], rows: [
                ["queued", number(queue.queued)], ["delivering", number(queue.inFlight)], ["deferred", number(queue.deferred)],
                ["failed", snapshot.failed.map(number) ?? "unknown"],
            ])
            html += "<p>Oldest message: \(oldest)</p>\n"
            let pauses = (queue.pausedApplications + queue.pausedMailboxes).map { pause in
                [escape(pause.application), escape(pause.mailbox ?? "all mailboxes (token failing)"),
                 pause.mailbox == nil ? "token failing" : "throttled (429)", escape(timestamp(pause.until))]
            }
            html += section("Paused", id: "paused", headers: ["application", "mailbox", "why", "until"], rows: pauses, empty: "Nothing is paused.")
        } else {
            html += "<h2>Queue</h2>\n<p id=\"queue\">delivery: synchronous — every message is delivered while the device waits; there is no queue.</p>\n"
        }

        let hour = snapshot.lastHour
        html += section("Last hour", id: "last-hour", headers: ["delivered", "deferred", "failed"],
                        rows: [[number(hour.delivered), number(hour.deferred), number(hour.failed)]])
        html += section("Applications", id: "tokens", headers: ["application", "token", "detail"], rows: snapshot.tokens.map { token in
            [escape(token.application), token.obtained.map(state) ?? "not tried yet", escape(token.detail ?? "")]
        })
        html += section("Last deliveries", id: "deliveries",
                        headers: ["finished", "queue id", "sender", "mailbox", "size", "attempt", "outcome", "Graph request-id"],
                        rows: snapshot.recent.map { report in
                            [escape(timestamp(report.finishedAt)), escape(report.queueID), escape(report.sender), escape(report.mailbox),
                             number(report.size), number(report.attempt), outcome(report.outcome), escape(report.outcome.requestId ?? "—")]
                        }, empty: "No delivery since the relay started.")
        html += "</body></html>\n"
        return html
    }

    private static func section(_ title: String, id: String? = nil, headers: [String], rows: [[String]], empty: String? = nil) -> String {
        var html = "<h2>\(title)</h2>\n"
        if rows.isEmpty, let empty {
            return html + "<p\(id.map { " id=\"\($0)\"" } ?? "")>\(empty)</p>\n"
        }
        html += "<table\(id.map { " id=\"\($0)\"" } ?? "")><tr>" + headers.map { "<th>\($0)</th>" }.joined() + "</tr>\n"
        for row in rows {
            html += "<tr>" + row.map { "<td>\($0)</td>" }.joined() + "</tr>\n"
        }
        return html + "</table>\n"
    }

    private static func state(_ ok: Bool) -> String {
        ok ? "<span class=\"ok\">ok</span>" : "<span class=\"bad\">failing</span>"
    }

    private static func outcome(_ outcome: DeliveryOutcome) -> String {
        let name = escape(outcome.logName)
        return outcome.metricName == "delivered" ? "<span class=\"ok\">\(name)</span>"
            : outcome.metricName == "failed" ? "<span class=\"bad\">\(name)</span>" : name
    }

    private static func number(_ value: Int) -> String { "\(value)" }

    private static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
    }

    private static func age(_ seconds: TimeInterval) -> String {
        let value = Int(max(seconds, 0))
        if value < 120 { return "\(value) s" }
        if value < 7200 { return "\(value / 60) min" }
        return "\(value / 3600) h \(value % 3600 / 60) min"
    }

    /// Control characters as the logs show them, then the five HTML specials.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in UntrustedText.escaped(text) {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
