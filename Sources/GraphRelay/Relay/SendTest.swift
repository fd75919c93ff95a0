import Foundation
import GraphRelayDelivery
import GraphRelayGraph
import GraphRelayMIME
import GraphRelaySMTP
import Logging
import NIOCore

/// `graph-relay send-test`: one message, routed as mail from its sender would be, sent straight
/// through Graph (not through the queue), every step said as it happens — the route chosen, the
/// token (Entra's AADSTS code and what to fix when it fails), Graph's answer and its request ids.
/// The first command to run against a real tenant.
public struct SendTest: Sendable {
    public var from: String
    public var to: [String]
    public var subject: String
    /// A file to attach (streamed from disk: a large one takes the draft path like a large scan).
    public var attachment: String?
    /// Route as this authenticated user (routes can depend on it); none by default.
    public var user: String?

    public init(from: String, to: [String], subject: String = "graph-relay send-test", attachment: String? = nil, user: String? = nil) {
        self.from = from
        self.to = to
        self.subject = subject
        self.attachment = attachment
        self.user = user
    }

    /// Runs the test, handing each step's line to `say`. True only when Graph accepted the message.
    public func run(configuration: RelayConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger,
                    say: @Sendable (String) -> Void) async -> Bool {
        let recipients = to.compactMap(Self.mailbox)
        guard let sender = Self.mailbox(from), !to.isEmpty, recipients.count == to.count else {
            say("addresses: --from and every --to must be an address like name@example.com")
            return false
        }
        let decision = Router(configuration: configuration).route(sender: EnvelopeSender(from), authenticatedUser: user, client: nil)
        guard let route = decision.match else {
            say("route: none for \(from)\(user.map { " (as user \($0))" } ?? "") — \(decision.rejection.map { "\($0)" } ?? "\(decision)")")
            return false
        }
        say("route: \(from) → application '\(route.application)', sent as mailbox \(route.mailbox) (routes[\(route.routeIndex)])")

        let clients: GraphClients
        do {
            clients = try GraphClients(configuration: configuration, eventLoopGroup: eventLoopGroup)
        } catch {
            say("graph client: cannot be set up — \(error)")
            return false
        }
        let accepted = await send(sender: sender, recipients: recipients, route: route, clients: clients,
                                  configuration: configuration, logger: logger, say: say)
        await clients.shutdown()
        return accepted
    }

    /// The token, then the message, through `clients`.
    private func send(sender: SMTPMailbox, recipients: [SMTPMailbox], route: RouteMatch, clients: GraphClients,
                      configuration: RelayConfiguration, logger: Logger, say: @Sendable (String) -> Void) async -> Bool {
        guard let client = clients.client(for: route.application) else {
            say("graph client: no application '\(route.application)'")
            return false
        }
        do {
            try await client.verifyCredentials(logger: logger)
            let origin = client.application.managedIdentity.map { "\($0)" } ?? "tenant \(client.application.tenantID)"
            say("token: obtained for '\(route.application)' (\(origin), \(client.application.cloud))")
        } catch {
            say("token: FAILED — \(error.detail)\(error.aadstsCode.map { " (AADSTS\($0))" } ?? ""); fix: \(error.remedy)")
            return false
        }

        let envelope = SMTPEnvelope(id: "send-test", sender: .mailbox(sender), recipients: recipients.map { .mailbox($0) })
        let session = SMTPSessionInfo(id: "send-test", listenerName: "send-test", clientAddress: "127.0.0.1")
        let stored: any SMTPStoredMessage
        do {
            stored = try await compose(configuration: configuration)
        } catch {
            say("message: cannot be written — \(error)")
            return false
        }
        let outgoing: OutgoingMessage
        do {
            outgoing = try await OutgoingMessage.prepare(SMTPIncomingMessage(envelope: envelope, session: session, content: stored), route: route,
                                                         hostname: configuration.smtp.hostname, maxHeaderSize: configuration.smtp.maxHeaderSize)
        } catch {
            say("message: refused before Graph — \(error.reply)")
            return false
        }
        say("message: \(outgoing.source.byteCount) bytes, Message-ID \(outgoing.rewrite.messageID ?? "as written"), to \(to.joined(separator: ", "))")
        let delivery = GraphDelivery(clients: clients, graph: configuration.graph)
        let (outcome, _) = await delivery.deliver(GraphDelivery.Message(
            content: outgoing.content, application: route.application, mailbox: route.mailbox, messageID: outgoing.rewrite.messageID
        ), logger: logger)
        switch outcome {
        case .accepted(let receipt):
            let clientRequest = receipt.clientRequestID == "-" ? "" : ", client-request-id \(receipt.clientRequestID)"
            say("graph: accepted (202) — request-id \(receipt.requestID ?? "-")\(clientRequest)")
            return true
        case .failed(let failure):
            say("graph: NOT accepted — \(failure.status.map { "HTTP \($0) " } ?? "")\(failure.errorCode.map { "\($0): " } ?? "")\(failure.message)"
                + " — request-id \(failure.requestID ?? "-"), client-request-id \(failure.clientRequestID ?? "-")")
            return false
        }
    }

    /// The message, written to an unnamed file in the spool's `tmp/` as a device would send it;
    /// an attachment is read and encoded in pieces, never held whole.
    private func compose(configuration: RelayConfiguration) async throws -> any SMTPStoredMessage {
        let directory = configuration.spool.directory + "/tmp"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let sink = try await SMTPSpillingMessageStore(directory: directory)
            .makeSink(envelope: SMTPEnvelope(id: "send-test", sender: .null), session: SMTPSessionInfo(id: "send-test", listenerName: "send-test", clientAddress: "127.0.0.1"))
        func append(_ text: String) async throws {
            try await sink.append(ByteBuffer(string: text))
        }
        let date = DeliveryStatusNotification.rfc5322Date(Date())
        var head = "From: <\(from)>\r\nTo: \(to.map { "<\($0)>" }.joined(separator: ", "))\r\nSubject: \(subject)\r\nDate: \(date)\r\nMIME-Version: 1.0\r\n"
        let text = "This message was sent by graph-relay send-test on \(date): the route, the token and Microsoft Graph work.\r\n"
        guard let attachment else {
            head += "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            try await append(head + text)
            return try await sink.finish()
        }
        let boundary = "send-test-\(UInt64.random(in: 0...UInt64.max))"
        let name = (attachment as NSString).lastPathComponent.replacingOccurrences(of: "\"", with: "")
        head += "Content-Type: multipart/mixed; boundary=\"\(boundary)\"\r\n\r\n"
        try await append(head + "--\(boundary)\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text
            + "--\(boundary)\r\nContent-Type: application/octet-stream; name=\"\(name)\"\r\nContent-Disposition: attachment; filename=\"\(name)\"\r\n"
            + "Content-Transfer-Encoding: base64\r\n\r\n")
        guard let file = FileHandle(forReadingAtPath: attachment) else { throw SendTestError("cannot read \(attachment)") }
        defer { try? file.close() }
        // 57 bytes make one 76-character base64 line; 1140 lines per read.
        while let data = try file.read(upToCount: 57 * 1140), !data.isEmpty {
            var lines = ""
            var offset = data.startIndex
            while offset < data.endIndex {
                let end = min(offset + 57, data.endIndex)
                lines += Base64.encode(data[offset..<end]) + "\r\n"
                offset = end
            }
            try await append(lines)
        }
        try await append("--\(boundary)--\r\n")
        return try await sink.finish()
    }

    private static func mailbox(_ address: String) -> SMTPMailbox? {
        guard let at = address.lastIndex(of: "@"), at != address.startIndex, address.index(after: at) != address.endIndex,
              !address.contains(where: { $0 == " " || $0 == "<" || $0 == ">" || $0.isNewline }) else { return nil }
        return SMTPMailbox(localPart: String(address[..<at]), domain: String(address[address.index(after: at)...]))
    }
}

struct SendTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
