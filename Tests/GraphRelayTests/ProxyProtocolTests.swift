import Foundation
import GraphRelayTestSupport
import Testing
@testable import GraphRelay

/// The PROXY protocol behind a real haproxy (`send-proxy` and `send-proxy-v2`, plain and
/// implicit TLS). haproxy connects to the relay from 127.0.0.2, the only trusted proxy; clients
/// connect to haproxy from 127.0.0.1 (trusted by `access.networks`) or 127.0.0.3 (not trusted).
@Suite("PROXY protocol behind haproxy", .timeLimit(.minutes(3)))
struct ProxyProtocolTests {
    @Test("the header's client address is the one access control, Received: and the logs see; untrusted peers, garbage and silence are closed without a banner")
    func behindHAProxy() async throws {
        try await QueueRelayFixture.with { fixture in
            let trusted = #"proxyProtocol: true, trustedProxies: ["127.0.0.2/32"]"#
            let yaml = fixture.yaml
                .replacingOccurrences(of: "  listeners:\n    - { address: \"127.0.0.1:0\" }", with: """
                      proxyHeaderTimeout: 500ms
                      listeners:
                        - { address: "127.0.0.1:0", \(trusted) }
                        - { address: "127.0.0.2:0", tls: implicit, \(trusted) }
                    """)
                .replacingOccurrences(of: #"networks: ["127.0.0.0/8"]"#, with: #"networks: ["127.0.0.1/32"]"#)
                + "\ntls: { certificate: \(TestPKI.shared.serverCertificate), privateKey: \(TestPKI.shared.serverKey) }\n"
            #expect(yaml.contains("proxyHeaderTimeout") && yaml.contains("127.0.0.1/32"))
            let configuration = try RelayConfiguration.parse(yaml: yaml, baseDirectory: fixture.directory, environment: [:], file: "proxy.yaml")
            let relay = RelayService(configuration: configuration, logger: fixture.capture.logger("graph-relay"))
            let listeners = try await relay.start()
            defer { Task { await relay.shutdown(gracePeriod: .seconds(1)) } }
            let (plainPort, tlsPort) = (try #require(listeners.first?.port), try #require(listeners.last?.port))

            let (v1Port, v2Port) = (try Self.freePort(), try Self.freePort())
            let config = fixture.directory + "/haproxy.cfg"
            try """
                global
                  maxconn 100
                defaults
                  mode tcp
                  timeout connect 5s
                  timeout client 30s
                  timeout server 30s
                listen v1
                  bind 127.0.0.1:\(v1Port)
                  server relay 127.0.0.1:\(plainPort) send-proxy source 127.0.0.2
                listen v2
                  bind 127.0.0.1:\(v2Port)
                  server relay 127.0.0.2:\(tlsPort) send-proxy-v2 source 127.0.0.2

                """.write(toFile: config, atomically: true, encoding: .utf8)
            let haproxy = try BackgroundProcess("haproxy", ["-f", config, "-db"])
            defer { haproxy.stop() }
            #expect(await Self.waitForListening(port: v2Port), "\(haproxy.text)")

            // v1, plain: the client (127.0.0.1) is trusted by access.networks although the relay's
            // peer is haproxy (127.0.0.2).
            let plain = try await Self.swaks(port: v1Port, subject: "proxied v1")
            #expect(plain.status == 0, "\(plain.stdout)")
            // v2, implicit TLS through haproxy.
            let tls = try await Self.swaks(port: v2Port, subject: "proxied v2", extra: ["--tlsc", "--tls-verify", "--tls-ca-path", TestPKI.shared.caCertificate])
            #expect(tls.status == 0, "\(tls.stdout)")
            // A client haproxy relays from 127.0.0.3: not in access.networks, so it must authenticate.
            let outsider = try await Self.swaks(port: v1Port, subject: "outsider", extra: ["--local-interface", "127.0.0.3"])
            #expect(outsider.status != 0 && outsider.stdout.contains("530 5.7.0"), "\(outsider.stdout)\(outsider.stderr)\nhaproxy: \(haproxy.text.suffix(1000))")

            #expect(await queueWait { fixture.delivered()["proxied v1"]?.count == 1 && fixture.delivered()["proxied v2"]?.count == 1 })
            for subject in ["proxied v1", "proxied v2"] {
                let message = try #require(fixture.delivered()[subject]?.first)
                let received = try #require(QueueTestMessage.header("Received", in: message.mime))
                #expect(received.contains("[127.0.0.1]") && !received.contains("127.0.0.2"), "\(received)")
            }
            let logs = fixture.capture.lines
            #expect(logs.contains { $0.contains("message answered") && $0.contains("smtp.client=127.0.0.1") && $0.contains("smtp.proxy=127.0.0.2") },
                    "\(logs.suffix(30))")
            #expect(logs.contains { $0.contains("smtp.client=127.0.0.3") && $0.contains("smtp.proxy=127.0.0.2") })

            // Straight to the relay: from an address that is not a trusted proxy, with garbage
            // from a trusted one, and silence from a trusted one — all closed, no banner.
            let direct = try await Self.probe(port: plainPort, from: "127.0.0.1", send: "EHLO direct\r\n")
            #expect(direct.received.isEmpty && direct.closed, "\(direct)")
            let garbage = try await Self.probe(port: plainPort, from: "127.0.0.2", send: "HELLO relay\r\n")
            #expect(garbage.received.isEmpty && garbage.closed, "\(garbage)")
            let silent = try await Self.probe(port: plainPort, from: "127.0.0.2", send: "")
            #expect(silent.received.isEmpty && silent.closed && silent.seconds >= 0.4 && silent.seconds < 5, "\(silent)")
            let lines = fixture.capture.lines
            #expect(lines.contains { $0.contains("accepts only its trustedProxies") && $0.contains("smtp.proxy=127.0.0.1") })
            #expect(lines.contains { $0.contains("PROXY protocol header refused") && $0.contains("not a PROXY header") })
            #expect(lines.contains { $0.contains("PROXY protocol header refused") && $0.contains("no PROXY header within 500 ms") })
        }
    }

    @Test("check-config: proxyProtocol needs trustedProxies; trustedProxies needs proxyProtocol")
    func configuration() throws {
        func problems(_ listener: String) -> String {
            let yaml = """
                smtp: { listeners: [ \(listener) ] }
                access: { networks: ["127.0.0.1/32"] }
                applications: [ { name: a, tenantId: t.onmicrosoft.com, clientId: 7f1c9a52-3d4b-4c8e-9a61-0b2d5e8f4c10, clientSecret: s } ]
                routes: [ { sender: "*", application: a, mailbox: m@t.test } ]
                """
            do {
                _ = try RelayConfiguration.parse(yaml: yaml, baseDirectory: "/", environment: [:], file: "t.yaml")
                return ""
            } catch {
                return "\(error)"
            }
        }
        #expect(problems(#"{ address: "127.0.0.1:25", proxyProtocol: true }"#).contains("smtp.listeners[0].trustedProxies: required with proxyProtocol: true"))
        #expect(problems(#"{ address: "127.0.0.1:25", trustedProxies: ["10.0.0.0/8"] }"#).contains("has no effect without proxyProtocol: true"))
        #expect(problems(#"{ address: "127.0.0.1:25", proxyProtocol: true, trustedProxies: ["10.0.0.0/33"] }"#).contains("trustedProxies"))
        #expect(problems(#"{ address: "127.0.0.1:25", proxyProtocol: true, trustedProxies: ["10.0.0.0/8"] }"#).isEmpty)
    }

    // MARK: Helpers

    static func swaks(port: Int, subject: String, extra: [String] = []) async throws -> ProcessResult {
        try await ProcessRunner.run("swaks", [
            "--server", "127.0.0.1", "--port", "\(port)", "--ehlo", "device.test", "--timeout", "20",
            "--from", "scanner@printer.test", "--to", "a@example.com",
            "--header", "Subject: \(subject)", "--header", "From: scanner@printer.test",
        ] + extra, timeout: 45)
    }

    /// A port nothing listens on now.
    static func freePort() throws -> Int {
        let result = try ProcessRunner.run("python3", ["-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
        return try #require(Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    static func waitForListening(port: Int) async -> Bool {
        for _ in 0..<100 {
            let result = try? await ProcessRunner.run("python3", ["-c", "import socket; socket.create_connection(('127.0.0.1',\(port)),1).close()"])
            if result?.status == 0 { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Connects from `from`, sends `send`, and reads until the relay closes (at most 5 s).
    static func probe(port: Int, from: String, send: String) async throws -> (received: String, closed: Bool, seconds: Double) {
        let script = """
            import socket, sys, time
            s = socket.socket(); s.bind((sys.argv[1], 0)); s.connect(('127.0.0.1', int(sys.argv[2]))); s.settimeout(5)
            start = time.monotonic()
            if sys.argv[3]: s.sendall(sys.argv[3].encode())
            data = b''; closed = False
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk: closed = True; break
                    data += chunk
            except (socket.timeout, ConnectionResetError):
                closed = isinstance(sys.exc_info()[1], ConnectionResetError)
            print(repr(data)); print(closed); print(time.monotonic() - start)
            """
        let result = try await ProcessRunner.run("python3", ["-c", script, from, "\(port)", send], timeout: 20)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        guard lines.count == 3 else { throw QueueTestError("probe: \(result.stdout) \(result.stderr)") }
        return (lines[0] == "b''" ? "" : lines[0], lines[1] == "True", Double(lines[2]) ?? -1)
    }
}
