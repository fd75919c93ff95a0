import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// What one Graph request came to: an answer (any status), or a failure to get one (transport,
/// token, cancellation) already classified.
enum GraphAnswer: Sendable {
    case answered(HTTPClientResponse, clientRequestID: String, attempts: Int)
    case failed(GraphSendFailure)
}

extension GraphClient {
    /// Sends one request for `mailbox`: waits for a slot of the mailbox (at most
    /// ``GraphClientConfiguration/maxConcurrentRequestsPerMailbox`` at once), adds the
    /// application's token (unless `authorized` is false: upload URLs carry their own), a new
    /// `client-request-id` and `Accept: application/json`; on 401 drops the token and sends once
    /// more with a fresh one. Nothing else is retried.
    ///
    /// - Parameters:
    ///   - operation: what the request does, for the log (`sendMail`, `createDraft`, …).
    ///   - headers: extra headers (`Content-Type`, `Content-Range`).
    func request(_ operation: String, mailbox: String, method: HTTPMethod, url: HTTPURL, headers extra: HTTPHeaders = [:],
                 body: HTTPClientRequest.Body? = nil, timeout: TimeAmount, authorized: Bool = true, logger: Logger) async -> GraphAnswer {
        guard Self.isUsableMailbox(mailbox) else {
            return .failed(GraphSendFailure(kind: .unknownMailbox, mailbox: mailbox, message: "invalid mailbox address '\(mailbox)'"))
        }
        do {
            try await limiter?.acquire(mailbox)
        } catch {
            return .failed(GraphSendFailure(kind: .localError, mailbox: mailbox, message: "cancelled while waiting for a mailbox slot"))
        }
        let answer = await requestHoldingSlot(operation, mailbox: mailbox, method: method, url: url, headers: extra, body: body,
                                              timeout: timeout, authorized: authorized, logger: logger)
        await limiter?.release(mailbox)
        return answer
    }

    private func requestHoldingSlot(_ operation: String, mailbox: String, method: HTTPMethod, url: HTTPURL, headers extra: HTTPHeaders,
                                    body: HTTPClientRequest.Body?, timeout: TimeAmount, authorized: Bool, logger: Logger) async -> GraphAnswer {
        var attempt = 0
        while true {
            attempt += 1
            var headers = extra
            var token: GraphAccessToken?
            if authorized {
                do {
                    token = try await tokenProvider.accessToken(logger: logger)
                } catch {
                    return .failed(GraphSendFailure(kind: .tokenFailure, mailbox: mailbox, message: error.description, tokenError: error))
                }
                headers.replaceOrAdd(name: "Authorization", value: "Bearer \(token!.value)")
            }
            let clientRequestID = UUID().uuidString.lowercased()
            headers.replaceOrAdd(name: "Accept", value: "application/json")
            headers.replaceOrAdd(name: "client-request-id", value: clientRequestID)
            headers.replaceOrAdd(name: "return-client-request-id", value: "true")
            logger.debug("Graph request", metadata: [
                "graph.operation": "\(operation)", "graph.client-request-id": "\(clientRequestID)", "graph.attempt": "\(attempt)",
            ])
            let response: HTTPClientResponse
            let started = ContinuousClock.now
            do {
                response = try await httpClient.execute(HTTPClientRequest(method: method, url: url, headers: headers, body: body),
                                                        timeout: timeout, logger: logger)
                metrics.requestFinished(operation: operation, mailbox: mailbox, status: String(response.status.code), duration: .now - started)
            } catch {
                metrics.requestFinished(operation: operation, mailbox: mailbox, status: "error", duration: .now - started)
                return .failed(GraphSendMailOutcome.classify(transportError: error, mailbox: mailbox, clientRequestID: clientRequestID).failure!)
            }
            if response.status == .unauthorized, attempt == 1, let token {
                logger.notice("Graph answered 401; refreshing the token and sending once more", metadata: [
                    "graph.operation": "\(operation)", "graph.request-id": "\(response.headers.first(name: "request-id") ?? "-")",
                    "graph.client-request-id": "\(clientRequestID)",
                ])
                await tokenProvider.invalidate(token)
                continue
            }
            return .answered(response, clientRequestID: clientRequestID, attempts: attempt)
        }
    }

    /// A mailbox Graph can be asked about: non-empty, no blanks or control characters.
    static func isUsableMailbox(_ mailbox: String) -> Bool {
        !mailbox.isEmpty && mailbox.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7F }
    }

    /// `{graph}/v1.0/users/{mailbox}` followed by `path`.
    func userURL(_ mailbox: String, _ path: String) -> HTTPURL {
        graphRoot.appending(path: "/v1.0/users/" + HTTPURL.encodePathSegment(mailbox) + path)
    }
}
