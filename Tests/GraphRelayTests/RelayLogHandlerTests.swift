import Foundation
import GraphRelay
import GraphRelaySMTP
import GraphRelayTestSupport
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import Testing

@Suite("Relay log output")
struct RelayLogHandlerTests {
    final class Lines: Sendable {
        let text = NIOLockedValueBox("")
        func logger(level: Logger.Level = .info, format: LogFormat = .text) -> Logger {
            Logger(label: "graph-relay") { label in
                var handler = RelayLogHandler(label: label, format: format) { [self] line in self.text.withLockedValue { $0 += line } }
                handler.logLevel = level
                return handler
            }
        }
        var all: [Substring] { text.withLockedValue { $0 }.split(separator: "\n") }
    }

    @Test("one line per record: message and metadata escaped, metadata sorted, values with spaces quoted")
    func format() {
        let lines = Lines()
        var logger = lines.logger()
        logger[metadataKey: "relay.session"] = "S1"
        logger.info("authentication failed", metadata: ["smtp.user": "evil\r\n2026-12-05 info graph-relay: authenticated\u{1B}[2J\0", "smtp.reply": "535 5.7.8"])
        logger.debug("not shown")
        #expect(lines.all.count == 1)
        let line = String(lines.all[0])
        #expect(line.hasSuffix(#" info graph-relay: relay.session=S1 smtp.reply="535 5.7.8" smtp.user="evil\r\n2026-12-05 info graph-relay: authenticated\x1B[2J\0" authentication failed"#), "\(line)")
        #expect(line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "#, options: .regularExpression) != nil)
    }

    @Test("text values: quotes escaped, empty and spaced values quoted, lists and dictionaries rendered element by element")
    func values() {
        let lines = Lines()
        let logger = lines.logger()
        logger.info("m", metadata: [
            "a.quoted": "say \"hi\"", "b.empty": "", "c.list": ["x y", "z", "\u{1B}"], "d.dict": ["k": "v w", "j": "1"],
            "e.plain": "ok", "f.unicode": "jörg\u{202E}", "g.backslash": #"C:\x"#,
        ])
        #expect(lines.all.count == 1)
        let line = String(lines.all[0])
        #expect(line.hasSuffix(#" info graph-relay: a.quoted="say \"hi\"" b.empty="" c.list=["x y",z,\x1B] d.dict={j=1,k="v w"} e.plain=ok f.unicode=jörg\u{202E} g.backslash=C:\\x m"#), "\(line)")
    }

    @Test("logging.format json: one object per line with time, level, logger, message and the metadata as keys, client text escaped")
    func json() throws {
        let lines = Lines()
        var logger = lines.logger(format: .json)
        logger[metadataKey: "relay.session"] = "S1"
        logger.info("authentication failed", metadata: [
            "smtp.user": "evil\r\n{\"level\":\"critical\"}\u{1B}[2J\0", "message": "a metadata key named like a field", "smtp.recipients": ["a@b", "c@d"],
        ])
        logger.debug("not shown")
        #expect(lines.all.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[0].utf8)) as? [String: Any], "\(lines.all)")
        #expect(object["level"] as? String == "info" && object["logger"] as? String == "graph-relay")
        #expect(object["message"] as? String == "authentication failed")
        #expect(object["metadata.message"] as? String == "a metadata key named like a field")
        #expect(object["relay.session"] as? String == "S1")
        #expect(object["smtp.recipients"] as? [String] == ["a@b", "c@d"])
        #expect(object["smtp.user"] as? String == #"evil\r\n{"level":"critical"}\x1B[2J\0"#)
        let time = try #require(object["time"] as? String)
        #expect(ISO8601DateFormatter.withFractionalSeconds.date(from: time) != nil, "RFC 3339: \(time)")
        #expect(!lines.text.withLockedValue { $0 }.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\0" || $0 == "\r" })
    }

    /// Accepts nobody; the test is about what the log shows.
    struct RefuseAll: SMTPAuthenticator {
        func authenticate(username: String, password: String, session: SMTPSessionInfo) async -> SMTPAuthenticationResult { .failed }
    }

    @Test("over the wire: an AUTH user name and a HELO name with CR, LF, ESC and NUL stay on their log line")
    func overTheWire() async throws {
        let lines = Lines()
        var limits = SMTPLimits()
        limits.authenticationFailureDelay = .zero
        let server = SMTPServer(
            configuration: SMTPServerConfiguration(
                hostname: "relay.test",
                listeners: [SMTPListenerConfiguration(name: "plain", host: "127.0.0.1", port: 0, allowPlaintextAuthentication: true)],
                limits: limits),
            policy: SMTPDenyAllPolicy(), authenticator: RefuseAll(), logger: lines.logger())
        let port = try await server.start(on: MultiThreadedEventLoopGroup.singleton)[0].port
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try await SMTPTestClient.connect(port: port)
        _ = try await client.readReply()
        _ = try await client.command("EHLO c")
        let user = "printer\r\nFAKE info graph-relay: authenticated smtp.user=admin\u{1B}[31m\0"
        #expect(try await client.command("AUTH LOGIN").status == "334")
        #expect(try await client.command(Data(user.utf8).base64EncodedString()).status == "334")
        #expect(try await client.command(Data("x".utf8).base64EncodedString()).status == "535 5.7.8")
        _ = try await client.command("QUIT")
        await client.close()
        try await Task.sleep(for: .milliseconds(200))
        let failed = lines.all.filter { $0.contains("authentication failed") }
        #expect(failed.count == 1, "\(lines.all)")
        #expect(failed.first?.contains(#"smtp.user="printer\r\nFAKE info graph-relay: authenticated smtp.user=admin\x1B[31m\0""#) == true, "\(failed)")
        #expect(!lines.all.contains { $0.hasPrefix("FAKE") })
        #expect(!lines.text.withLockedValue { $0 }.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\0" || $0 == "\r" })
    }
}

extension ISO8601DateFormatter {
    static var withFractionalSeconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
