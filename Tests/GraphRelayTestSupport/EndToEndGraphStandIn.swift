import Foundation

/// A message the independent Graph stand-in (`Tests/GraphRelayTests/Fixtures/graph_standin.py`)
/// accepted: the decoded MIME and what Python's `email` package parsed from it.
public struct EndToEndStandInMessage: Sendable, Decodable {
    public var mailbox: String
    public var to: [String]
    public var cc: [String]
    public var bcc: [String]
    public var from: [String]
    public var requestId: String
    public var clientRequestId: String?
    /// Size of the base64 request body.
    public var requestBytes: Int
    /// Whether the base64 body contained line breaks.
    public var wrapped: Bool
    /// The decoded message, filled from the `.eml` file.
    public var mime: [UInt8] = []

    /// To, Cc and Bcc.
    public var recipients: [String] { to + cc + bcc }

    private enum CodingKeys: String, CodingKey {
        case mailbox, to, cc, bcc, from, requestId, clientRequestId, requestBytes, wrapped
    }
}

/// The Python Graph stand-in as a child process on 127.0.0.1 (port 0; it prints the port it got),
/// serving HTTPS with the given certificate. Stopped with SIGKILL by ``stop()`` (or when released):
/// children of the test runner may not see SIGTERM.
public final class EndToEndGraphStandIn: Sendable {
    public let port: Int
    /// Where accepted messages (`NNNN.eml` + `NNNN.json`) and `tokens.json` are written.
    public let directory: String
    private let process: BackgroundProcess

    private init(port: Int, directory: String, process: BackgroundProcess) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    /// Starts `python3 script` and waits (at most `timeout` seconds) for its port.
    ///
    /// - Parameters:
    ///   - clientSecret: the application's secret (`nil`: secrets are refused).
    ///   - clientCertificate: PEM file of the certificate whose key signs client assertions.
    public static func start(script: String, certificate: String, privateKey: String, tenant: String, clientID: String,
                             clientSecret: String?, clientCertificate: String?, timeout: TimeInterval = 15) async throws -> EndToEndGraphStandIn {
        let directory = NSTemporaryDirectory() + "graph-standin-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var arguments = ["-u", script, "--certificate", certificate, "--private-key", privateKey, "--outdir", directory,
                         "--tenant", tenant, "--client-id", clientID]
        if let clientSecret { arguments += ["--client-secret", clientSecret] }
        if let clientCertificate { arguments += ["--client-certificate", clientCertificate] }
        let process = try BackgroundProcess("python3", arguments)
        // `PORT <n>\n` is written in one unbuffered write (python3 -u).
        guard let output = await process.waitForOutput(containing: "PORT ", timeout: timeout),
              let line = output.split(separator: "\n").first(where: { $0.hasPrefix("PORT ") }),
              let port = Int(line.dropFirst(5).trimmingCharacters(in: .whitespaces)) else {
            let printed = process.text
            process.stop()
            throw ProcessError.timedOut(command: "python3 " + arguments.joined(separator: " "), output: printed)
        }
        return EndToEndGraphStandIn(port: port, directory: directory, process: process)
    }

    /// `https://127.0.0.1:<port>`: the login and Graph endpoint.
    public var baseURL: String { "https://127.0.0.1:\(port)" }

    /// Everything the stand-in printed (its request log and problems).
    public var output: String { process.text }

    /// Token endpoint requests received and tokens issued.
    public var tokenCounts: (requests: Int, issued: Int) {
        guard let data = FileManager.default.contents(atPath: directory + "/tokens.json"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Int] else { return (0, 0) }
        return (object["requests"] ?? 0, object["issued"] ?? 0)
    }

    /// Accepted messages, oldest first.
    public func messages() throws -> [EndToEndStandInMessage] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") && $0 != "tokens.json" }.sorted()
        return try names.map { name in
            let base = directory + "/" + name.dropLast(".json".count)
            guard let json = FileManager.default.contents(atPath: base + ".json"),
                  let mime = FileManager.default.contents(atPath: base + ".eml") else {
                throw ProcessError.notFound(base)
            }
            var message = try JSONDecoder().decode(EndToEndStandInMessage.self, from: json)
            message.mime = Array(mime)
            return message
        }
    }

    /// Kills the process (SIGKILL) and removes its directory.
    public func stop() {
        process.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
