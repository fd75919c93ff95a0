import Foundation
import GraphEmulator
import GraphRelayTestSupport
import Testing
@testable import GraphRelay

/// `/metrics`: real SMTP clients (swaks) against a relay and the Graph emulator, the exposition
/// read over HTTP (curl), checked by `promtool check metrics` and against the dashboard and the
/// alert rules (scripts/check-monitoring.py).
@Suite("Metrics: /metrics through swift-metrics and swift-prometheus", .timeLimit(.minutes(3)))
struct MetricsTests {
    static let token = "metrics-bearer-token"

    @Test("queue mode: accepted, delivered, failed and refused mail, Graph requests and the queue gauges, behind the bearer token; promtool and the dashboard check pass")
    func queueMode() async throws {
        let admin = #"{ address: "127.0.0.1:0", bearerToken: "\#(Self.token)" }"#
        try await QueueRelayFixture.with(admin: admin) { fixture in
            let service = try await fixture.start()
            let port = try #require(service.adminAddress?.port)
            let unauthorized = try await AdminListenerTests.curl(port: port, path: "/metrics")
            #expect(unauthorized.status == 401)

            for (index, from) in ["scanner@printer.test", "scanner@printer.test", "nobody@ghost.test"].enumerated() {
                let result = try await Self.swaks(port: fixture.port, from: from,
                                                  message: QueueTestMessage.make(from: from, to: "a@example.com", subject: "metrics \(index)"))
                #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            }
            // Not routed: refused at MAIL FROM or RCPT TO, with a 5xx.
            let refused = try await Self.swaks(port: fixture.port, from: "someone@unrouted.test",
                                               message: QueueTestMessage.make(from: "someone@unrouted.test", to: "a@example.com", subject: "refused"))
            #expect(refused.status != 0)

            let settled = await queueWait {
                fixture.emulator.messages(for: QueueTestRoutes.printerMailbox).count == 2
                    && QueueSpoolFiles.records(fixture.spoolDirectory, area: "failed").count == 2
            }
            #expect(settled, "\(QueueSpoolFiles.records(fixture.spoolDirectory, area: "failed"))")

            var metrics = try await Self.scrape(port: port)
            // Sessions are counted down when the connection's handler goes: wait for the last one.
            for _ in 0..<50 where metrics.value("graph_relay_smtp_sessions_active") != 0 {
                try await Task.sleep(for: .milliseconds(100))
                metrics = try await Self.scrape(port: port)
            }
            let listener = try #require(service.listeners.first?.configuration.name)
            #expect(metrics.value("graph_relay_smtp_connections_total", ["listener": listener]) == 4, "\(metrics.text)")
            #expect(metrics.value("graph_relay_smtp_sessions_active") == 0)
            #expect(metrics.value("graph_relay_smtp_messages_accepted_total") == 3)
            #expect(metrics.sum("graph_relay_smtp_messages_rejected_total") == 1)
            #expect(metrics.samples("graph_relay_smtp_messages_rejected_total").allSatisfy { $0.labels["code"]?.hasPrefix("5") == true && $0.value <= 1 })
            #expect(metrics.value("graph_relay_message_size_bytes_count") == 3)
            #expect(metrics.value("graph_relay_deliveries_total", ["application": "contoso", "outcome": "delivered"]) == 2)
            // The ghost mailbox's message failed, and so did its bounce (routed to the same ghost).
            #expect(metrics.value("graph_relay_deliveries_total", ["application": "contoso", "outcome": "failed"]) == 2)
            #expect(metrics.value("graph_relay_deliveries_total", ["application": "contoso", "outcome": "ambiguous"]) == 0)
            #expect(metrics.value("graph_relay_delivery_delay_seconds_count") == 2)
            #expect(metrics.value("graph_relay_graph_requests_total", ["operation": "sendMail", "status": "202"]) == 2)
            #expect(metrics.value("graph_relay_graph_requests_total", ["operation": "sendMail", "status": "404"]) == 2)
            #expect(metrics.value("graph_relay_graph_request_duration_seconds_count", ["operation": "sendMail"]) == 4)
            #expect(metrics.value("graph_relay_token_requests_total", ["application": "contoso", "outcome": "success"]) ?? 0 >= 1)
            #expect(metrics.value("graph_relay_token_requests_total", ["application": "contoso", "outcome": "failure"]) == 0)
            #expect(metrics.value("graph_relay_graph_throttled_total", ["application": "contoso"]) == 0)
            #expect(metrics.value("graph_relay_queue_messages", ["state": "queued"]) == 0)
            #expect(metrics.value("graph_relay_queue_messages", ["state": "failed"]) == 2)
            #expect(metrics.value("graph_relay_queue_oldest_age_seconds") == 0)
            #expect(metrics.value("graph_relay_token_ready", ["application": "contoso"]) == 1)
            #expect(metrics.value("graph_relay_ready") == 1)
            #expect(metrics.value("graph_relay_build_info", ["version": GraphRelayVersion.current]) == 1)
            #expect(metrics.value("graph_relay_config_reloads_total", ["outcome": "failure"]) == 0)
            // No mailbox label unless admin.mailboxLabels is on.
            #expect(!metrics.text.contains("mailbox="))

            try await Self.checkWithPromtool(metrics.text)
        }
    }

    @Test("TLS and AUTH: handshakes by version, authentication failures, synchronous deliveries; mailbox labels when admin.mailboxLabels is on")
    func tlsAndAuthentication() async throws {
        var setup = EndToEndSetup()
        setup.admin = #"{ address: "127.0.0.1:0", mailboxLabels: true }"#
        try await EndToEndRelay.run(setup) { harness in
            let port = try #require(harness.relay.adminAddress?.port)
            let sender = "scanner@\(EndToEnd.domain)"
            let message = EndToEndMessage(from: sender, to: ["alice@example.com"],
                                          text: "From: \(sender)\r\nTo: alice@example.com\r\nSubject: metrics over TLS\r\n\r\nHello\r\n")
            let delivered = try await EndToEndClients.swaks(.starttls, port: harness.starttlsPort, message: message)
            #expect(delivered.status == 0, "\(delivered.stdout)")
            let implicit = try await EndToEndClients.swaks(.smtps, port: harness.implicitPort, message: message,
                                                           extra: ["--tls-protocol", "tlsv1_2"])
            #expect(implicit.status == 0, "\(implicit.stdout)")
            let wrong = try await EndToEndClients.swaks(.starttls, port: harness.starttlsPort, password: "not-the-password", message: message)
            #expect(wrong.status != 0)

            let metrics = try await Self.scrape(port: port, token: nil)
            #expect(metrics.value("graph_relay_tls_handshakes_total", ["version": "TLSv1.3"]) == 2)
            #expect(metrics.value("graph_relay_tls_handshakes_total", ["version": "TLSv1.2"]) == 1)
            #expect(metrics.value("graph_relay_smtp_auth_failures_total") == 1)
            #expect(metrics.sum("graph_relay_smtp_connections_total") == 3)
            #expect(metrics.value("graph_relay_deliveries_total",
                                  ["application": "contoso", "outcome": "delivered", "mailbox": "scanner@\(EndToEnd.domain)"]) == 2)
            #expect(metrics.value("graph_relay_smtp_messages_accepted_total") == 2)
            // Nothing was refused here, so the refusals family is absent: lint only.
            try await Self.checkWithPromtool(metrics.text, dashboard: false)
        }
    }

    @Test("the factory keeps each family's labels to the catalogue's, so a family is never labelled two ways")
    func labelShaping() {
        let metrics = RelayMetrics(mailboxLabels: false, applications: ["contoso"])
        metrics.record(.init(queueID: "Q1", messageID: nil, sender: "a@b", recipients: 1, size: 10, application: "contoso",
                             mailbox: "Box@Contoso.test", attempt: 1, receivedAt: Date(timeIntervalSinceNow: -3), finishedAt: Date(),
                             outcome: .delivered(requestId: "r")))
        let text = metrics.exposition(RelayMetrics.Sample())
        let exposition = PrometheusExposition(text)
        #expect(exposition.value("graph_relay_deliveries_total", ["application": "contoso", "outcome": "delivered"]) == 1)
        #expect(!text.contains("mailbox="))
        #expect(exposition.value("graph_relay_delivery_delay_seconds_bucket", ["le": "5.0"]) == 1)
        #expect(exposition.value("graph_relay_delivery_delay_seconds_bucket", ["le": "2.5"]) == 0)

        let labelled = RelayMetrics(mailboxLabels: true, applications: [])
        labelled.record(.init(queueID: "Q1", messageID: nil, sender: "a@b", recipients: 1, size: 10, application: "contoso",
                              mailbox: "Box@Contoso.test", attempt: 1, receivedAt: Date(), finishedAt: Date(), outcome: .permanent(reason: "x")))
        #expect(PrometheusExposition(labelled.exposition(.init())).value(
            "graph_relay_deliveries_total", ["application": "contoso", "outcome": "failed", "mailbox": "box@contoso.test"]) == 1)
        // Every family the relay exports has help text and a type (promtool's lint needs both).
        for family in RelayMetricCatalogue.families {
            #expect(text.contains("# HELP \(family.name) ") == text.contains("# TYPE \(family.name) "), "\(family.name)")
        }
    }

    // MARK: Helpers

    static func swaks(port: Int, from: String, message: String) async throws -> ProcessResult {
        let file = NSTemporaryDirectory() + "metrics-\(UUID().uuidString).eml"
        try Data(message.utf8.dropLast(2)).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        return try await ProcessRunner.run("swaks", [
            "--server", "127.0.0.1", "--port", "\(port)", "--ehlo", "metrics.test", "--timeout", "30",
            "--from", from, "--to", "a@example.com", "--data", "@" + file,
        ], timeout: 45)
    }

    static func scrape(port: Int, token: String? = MetricsTests.token) async throws -> PrometheusExposition {
        let response = try await AdminListenerTests.curl(port: port, path: "/metrics",
                                                         headers: token.map { ["Authorization: Bearer \($0)"] } ?? [])
        #expect(response.status == 200, "\(response.body)")
        return PrometheusExposition(response.body)
    }

    /// `promtool check metrics` (lint included), and (`dashboard`) the dashboard's and the alert
    /// rules' metric names against this exposition.
    static func checkWithPromtool(_ text: String, dashboard: Bool = true) async throws {
        let file = NSTemporaryDirectory() + "graph-relay-metrics-\(UUID().uuidString).prom"
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let lint = try await ProcessRunner.run("promtool", ["check", "metrics"], input: Data(text.utf8))
        #expect(lint.status == 0, "promtool check metrics: \(lint.stdout)\(lint.stderr)")
        guard dashboard else { return }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let check = try await ProcessRunner.run("python3", [root + "/scripts/check-monitoring.py", "--metrics", file,
                                                            "--dashboard", root + "/deploy/grafana/graph-relay.json",
                                                            "--rules", root + "/deploy/prometheus/graph-relay-rules.yml"], timeout: 60)
        #expect(check.status == 0, "check-monitoring: \(check.stdout)\(check.stderr)")
    }
}

/// A Prometheus text exposition, read back for assertions.
struct PrometheusExposition {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    let text: String
    let all: [Sample]

    init(_ text: String) {
        self.text = text
        var samples: [Sample] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            var labels: [String: String] = [:]
            var name = String(series)
            if let open = series.firstIndex(of: "{"), series.hasSuffix("}") {
                name = String(series[..<open])
                let body = series[series.index(after: open)..<series.index(before: series.endIndex)]
                // Values here never contain `",` (numbers, names, versions, addresses).
                for pair in body.components(separatedBy: "\",") where !pair.isEmpty {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    labels[String(parts[0])] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                }
            }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
        self.all = samples
    }

    func samples(_ name: String) -> [Sample] { all.filter { $0.name == name } }

    /// The value of the one sample of `name` whose labels are exactly `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples(name).first { $0.labels == labels }?.value
    }

    func sum(_ name: String) -> Double { samples(name).reduce(0) { $0 + $1.value } }
}
