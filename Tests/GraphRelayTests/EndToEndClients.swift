import Foundation
import GraphRelayTestSupport

/// Runs the real clients (python3 smtplib, swaks, curl) against a relay; every run has a time limit.
enum EndToEndClients {
    static var ca: String { EndToEnd.pki.caCertificate }

    /// python3 smtplib: all `messages` in one session (AUTH when `authenticate`).
    static func smtplib(_ mode: Mode, port: Int, authenticate: Bool = true, user: String = EndToEnd.user,
                        password: String = EndToEnd.password, messages: [EndToEndMessage], timeout: TimeInterval = 45) async throws -> [SMTPResult] {
        // Python's socket timeout bounds a whole `sendall`: the message's DATA must fit in it.
        // Large messages go through files: encoding megabytes as JSON takes seconds of the test
        // process's cooperative threads, which its in-process servers need.
        var files: [String] = []
        defer { for file in files { try? FileManager.default.removeItem(atPath: file) } }
        var jobMessages: [[String: Any]] = []
        for message in messages {
            var entry: [String: Any] = ["from": message.from, "to": message.to, "mailOptions": message.mailOptions,
                                        "newConnection": message.newConnection]
            if message.data.count > 256 * 1024 {
                let file = try temporaryFile(message.data)
                files.append(file)
                entry["file"] = file
            } else {
                entry["data"] = Data(message.data).base64EncodedString()
            }
            jobMessages.append(entry)
        }
        var job: [String: Any] = ["mode": mode.rawValue, "port": port, "ca": ca, "timeout": max(30, timeout - 15), "messages": jobMessages]
        if authenticate {
            job["user"] = user
            job["password"] = password
        }
        let input = try JSONSerialization.data(withJSONObject: job)
        let result = try await ProcessRunner.run("python3", [EndToEnd.fixtures + "/smtp_client.py"], input: input, timeout: timeout)
        guard result.status == 0, let output = result.stdout.split(separator: "\n").last else {
            throw EndToEndError("smtplib failed (\(result.status)): \(result.stderr)\(result.stdout)")
        }
        do {
            return try JSONDecoder().decode([SMTPResult].self, from: Data(output.utf8))
        } catch {
            throw EndToEndError("smtplib printed no results: \(result.stdout) \(result.stderr)")
        }
    }

    /// swaks with the message bytes from a file (`--data @file`), TLS verified against the test CA.
    static func swaks(_ mode: Mode, port: Int, authenticate: Bool = true, password: String = EndToEnd.password,
                      message: EndToEndMessage, extra: [String] = []) async throws -> ProcessResult {
        // swaks always sends CRLF before the terminating ".": a message ending in CRLF is written
        // without it, so that the bytes on the wire are exactly `message.data`.
        var data = message.data
        if data.suffix(2) == [0x0D, 0x0A] { data.removeLast(2) }
        let file = try temporaryFile(data)
        defer { try? FileManager.default.removeItem(atPath: file) }
        var arguments = [
            "--server", "127.0.0.1", "--port", "\(port)", "--ehlo", "swaks.e2e", "--timeout", "30",
            "--from", message.from, "--to", message.to.joined(separator: ","), "--data", "@" + file,
            mode == .smtps ? "--tlsc" : "--tls", "--tls-verify", "--tls-ca-path", ca,
        ]
        if authenticate {
            arguments += ["--auth", "PLAIN", "--auth-user", EndToEnd.user, "--auth-password", password]
        }
        return try await ProcessRunner.run("swaks", arguments + extra, timeout: 45)
    }

    /// curl: `smtp://` with `--ssl-reqd` (STARTTLS) or `smtps://`, the message on stdin.
    static func curl(_ mode: Mode, port: Int, authenticate: Bool = true, message: EndToEndMessage,
                     extra: [String] = []) async throws -> ProcessResult {
        let url = mode == .smtps ? "smtps://127.0.0.1:\(port)" : "smtp://127.0.0.1:\(port)"
        var arguments = ["--silent", "--show-error", "--max-time", "30", "--url", url, "--cacert", ca,
                         "--mail-from", message.from, "--upload-file", "-"]
        if mode == .starttls { arguments.append("--ssl-reqd") }
        for recipient in message.to { arguments += ["--mail-rcpt", recipient] }
        if authenticate { arguments += ["--user", "\(EndToEnd.user):\(EndToEnd.password)"] }
        return try await ProcessRunner.run("curl", arguments + extra, input: Data(message.data), timeout: 45)
    }

    static func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "graph-relay-e2e-\(UUID().uuidString).eml"
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw EndToEndError("cannot write \(path)")
        }
        return path
    }

    /// How the client reaches the relay: STARTTLS on the submission listener or implicit TLS.
    enum Mode: String, Sendable {
        case starttls, smtps
        /// No TLS (a listener with `tls: none`).
        case plain
    }

    /// What smtplib saw for one message: where the transaction ended and the server's reply.
    struct SMTPResult: Sendable, Decodable, CustomStringConvertible {
        var stage: String
        var code: Int
        var text: String

        /// `250 2.0.0` style.
        var status: String {
            let enhanced = text.split(separator: " ").first.map(String.init) ?? ""
            return enhanced.split(separator: ".").count == 3 ? "\(code) \(enhanced)" : "\(code)"
        }

        var description: String { "\(stage): \(code) \(text)" }
    }
}
