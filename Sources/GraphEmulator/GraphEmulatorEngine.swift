import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// The emulator's behaviour, independent of I/O: routes requests, applies faults, runs the token
/// endpoint and sendMail validation, records results. Thread-safe; one instance serves every
/// connection.
final class GraphEmulatorEngine: Sendable {
    let configuration: GraphEmulatorConfiguration
    let state: GraphEmulatorState
    let certificates: [String: [ClientAssertionVerifier.Certificate]]
    let logger: Logger

    init(configuration: GraphEmulatorConfiguration, state: GraphEmulatorState, logger: Logger) throws {
        self.configuration = configuration
        self.state = state
        self.logger = logger
        var certificates: [String: [ClientAssertionVerifier.Certificate]] = [:]
        for application in configuration.applications {
            for pem in application.certificates {
                do {
                    certificates[application.clientID.lowercased(), default: []].append(try ClientAssertionVerifier.Certificate(pem: pem))
                } catch {
                    throw GraphEmulatorError("application \(application.clientID): \(error)")
                }
            }
        }
        self.certificates = certificates
    }

    // MARK: Request lifecycle

    func begin(head: HTTPRequestHead, instanceMetadata: Bool = false) -> GraphEmulatorPlan {
        let route = instanceMetadata ? Self.instanceMetadataRoute(for: head.uri) : Self.route(for: head.uri)
        var plan = GraphEmulatorPlan(route: route, requestID: UUID().uuidString.lowercased(), retainLimit: 64 * 1024)
        switch route {
        case .token, .managedIdentityToken:
            state.withValues { $0.tokenRequests += 1 }
            plan.tokenFault = state.takeTokenFault()
        case .sendMail(let mailbox):
            state.sendMailStarted(mailbox: mailbox)
            plan.operation = .sendMail
            plan.mailbox = mailbox
            plan.fault = state.begin(.sendMail, mailbox: mailbox)
            plan.retainLimit = configuration.maxRequestBytes
        case .messages(let mailbox), .message(let mailbox, _, _), .draftsFolder(let mailbox):
            plan.mailbox = mailbox
            plan.operation = Self.operation(route, method: head.method)
            plan.retainLimit = configuration.maxRequestBytes + 1
        case .upload(let session):
            plan.mailbox = state.withValues { $0.uploadSessions[session]?.mailbox }
            plan.operation = head.method == .GET ? .uploadStatus : head.method == .PUT ? .uploadChunk : nil
            plan.retainLimit = configuration.maxRequestBytes + 1
        case .me, .unknown:
            break
        }
        if case .sendMail = route {} else if let operation = plan.operation {
            plan.fault = state.begin(operation, mailbox: plan.mailbox)
        }
        return plan
    }

    /// The draft-path operation a request performs (nil for a method the route does not serve).
    static func operation(_ route: GraphEmulatorPlan.Route, method: HTTPMethod) -> GraphEmulatorOperation? {
        switch (route, method) {
        case (.messages, .POST): .createDraft
        case (.message(_, _, []), .GET): .draftState
        case (.message(_, _, []), .DELETE): .deleteDraft
        case (.message(_, _, ["attachments"]), .POST): .addAttachment
        case (.message(_, _, ["attachments", "createUploadSession"]), .POST): .createUploadSession
        case (.message(_, _, ["send"]), .POST): .sendDraft
        case (.draftsFolder, .GET): .findDrafts
        default: nil
        }
    }

    /// The request is over (answered, dropped or the connection closed).
    func end(_ plan: GraphEmulatorPlan) {
        if case .sendMail(let mailbox) = plan.route {
            state.sendMailEnded(mailbox: mailbox)
        }
    }

    func finish(_ plan: GraphEmulatorPlan, request: GraphEmulatorRequest) -> GraphEmulatorReply {
        var reply: GraphEmulatorReply
        switch plan.route {
        case .token(let tenant):
            reply = tokenReply(plan: plan, tenant: tenant, request: request)
        case .managedIdentityToken:
            reply = managedIdentityTokenReply(plan: plan, request: request)
        case .sendMail(let mailbox):
            reply = sendMailReply(plan: plan, mailbox: mailbox, request: request)
        case .messages, .message, .draftsFolder, .upload:
            reply = draftPathReply(plan: plan, request: request)
        case .me:
            reply = graphError(400, code: "BadRequest",
                               message: "/me request is only valid with delegated authentication flow.", plan: plan, request: request)
        case .unknown(let segment):
            reply = graphError(400, code: "BadRequest", message: "Resource not found for the segment '\(segment)'.",
                               plan: plan, request: request)
        }
        reply.headers.replaceOrAdd(name: "request-id", value: plan.requestID)
        if let clientRequestID = request.head.headers.first(name: "client-request-id") {
            reply.headers.replaceOrAdd(name: "client-request-id", value: clientRequestID)
        }
        reply.headers.replaceOrAdd(name: "Date", value: Self.httpDate(Date()))
        return reply
    }

    // MARK: Routing

    static func route(for uri: String) -> GraphEmulatorPlan.Route {
        var path = Substring(uri)
        if let query = path.firstIndex(of: "?") { path = path[..<query] }
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map {
            String($0).removingPercentEncoding ?? String($0)
        }
        if segments.count == 4, segments[1].lowercased() == "oauth2", segments[2].lowercased() == "v2.0", segments[3].lowercased() == "token" {
            return .token(tenant: segments[0])
        }
        if segments.count == 4, segments[0] == "v1.0", segments[1].lowercased() == "users", segments[3].lowercased() == "sendmail" {
            return .sendMail(mailbox: segments[2])
        }
        if segments.count >= 4, segments[0] == "v1.0", segments[1].lowercased() == "users" {
            let mailbox = segments[2]
            let rest = Array(segments[3...])
            if rest.count == 1, rest[0].lowercased() == "messages" { return .messages(mailbox: mailbox) }
            if rest.count >= 2, rest[0].lowercased() == "messages" {
                return .message(mailbox: mailbox, id: rest[1], rest: rest.dropFirst(2).map { $0 == "createUploadSession" ? $0 : $0.lowercased() })
            }
            if rest.map({ $0.lowercased() }) == ["mailfolders", "drafts", "messages"] { return .draftsFolder(mailbox: mailbox) }
        }
        if segments.count == 2, segments[0] == "upload" {
            return .upload(session: segments[1])
        }
        if segments.count == 3, segments[0] == "v1.0", segments[1].lowercased() == "me", segments[2].lowercased() == "sendmail" {
            return .me
        }
        return .unknown(segment: segments.last ?? "/")
    }

    // MARK: Replies

    /// A Graph-shaped error: `{"error":{"code","message","innerError":{date, request-id, client-request-id}}}`.
    func graphError(_ status: Int, code: String, message: String, plan: GraphEmulatorPlan, request: GraphEmulatorRequest,
                    extraHeaders: [(String, String)] = []) -> GraphEmulatorReply {
        let inner: [String: Any] = [
            "date": ISO8601DateFormatter().string(from: Date()),
            "request-id": plan.requestID,
            "client-request-id": request.head.headers.first(name: "client-request-id") ?? plan.requestID,
        ]
        let json: [String: Any] = ["error": ["code": code, "message": message, "innerError": inner]]
        var headers = HTTPHeaders([("Content-Type", "application/json")])
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        return GraphEmulatorReply(status: HTTPResponseStatus(statusCode: status), headers: headers, body: Self.json(json))
    }

    static func json(_ object: [String: Any]) -> ByteBuffer {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return ByteBuffer(bytes: data)
    }

    /// `Date` header value; formatted once per second (a DateFormatter per response cost more
    /// than the rest of a sendMail reply).
    static func httpDate(_ date: Date) -> String {
        let second = Int64(date.timeIntervalSince1970.rounded(.down))
        if let cached = httpDateCache.withLockedValue({ $0.second == second ? $0.text : nil }) { return cached }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let text = formatter.string(from: Date(timeIntervalSince1970: Double(second)))
        httpDateCache.withLockedValue { $0 = (second, text) }
        return text
    }

    private static let httpDateCache = NIOLockedValueBox<(second: Int64, text: String)>((-1, ""))
}
