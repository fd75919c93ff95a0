import CoreMetrics
import Foundation
import GraphRelayMIME
import GraphRelayTLS
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Submits messages for one application to Microsoft Graph:
/// `POST {graph}/v1.0/users/{mailbox}/sendMail`, `Content-Type: text/plain`, body = the raw
/// message base64-encoded on the fly from a ``GraphMessageSource``.
///
/// Per message: wait for a per-mailbox slot (at most ``GraphClientConfiguration/maxConcurrentRequestsPerMailbox``),
/// get a token (cached, single flight), send; on 401 drop the token, fetch a new one and send once
/// more; classify the answer into a ``GraphSendMailOutcome``. Nothing else is retried here: the
/// caller decides (the outcome says whether the failure is permanent and whether it is ambiguous).
public final class GraphClient: Sendable {
    public let application: GraphApplication
    public let configuration: GraphClientConfiguration
    public let tokenProvider: any GraphTokenProvider
    let httpClient: HTTPClient
    private let ownsHTTPClient: Bool
    let limiter: MailboxConcurrencyLimiter?
    let graphRoot: HTTPURL
    let metrics: GraphMetrics

    /// Builds the HTTP client (trusting the application's `caFile` in addition to the configured
    /// roots; a managed identity's endpoint reached without the proxy) and the token provider for
    /// the application's credential.
    ///
    /// - Throws: ``GraphClientSetupError`` naming the problem (bad endpoint URL, unreadable CA
    ///   file, unusable certificate or key).
    public convenience init(application: GraphApplication, configuration: GraphClientConfiguration = GraphClientConfiguration(),
                            eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                            metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance) throws(GraphClientSetupError) {
        var http = configuration.http
        if let caFile = application.caFile {
            http.tls.additionalTrustRoots.append(.file(caFile))
        }
        // The instance metadata service answers the VM itself only, and refuses proxied requests.
        if let identity = application.managedIdentity, let url = try? HTTPURL(identity.endpoint) {
            let host = url.endpoint.host.contains(":") ? "[\(url.endpoint.host)]" : url.endpoint.host
            http.proxy?.noProxy.append("\(host):\(url.endpoint.port)")
        }
        let httpClient: HTTPClient
        do {
            httpClient = try HTTPClient(configuration: http, eventLoopGroup: eventLoopGroup)
        } catch {
            throw GraphClientSetupError(application: application.name, detail: "TLS: \(error)")
        }
        let provider: EntraTokenProvider
        do {
            provider = try EntraTokenProvider(application: application, httpClient: httpClient,
                                                          refreshMargin: configuration.tokenRefreshMargin,
                                                          requestTimeout: configuration.tokenRequestTimeout,
                                                          metricsFactory: metricsFactory)
        } catch {
            throw GraphClientSetupError(application: application.name, detail: error.detail + " — fix: " + error.remedy)
        }
        try self.init(application: application, configuration: configuration, tokenProvider: provider,
                      httpClient: httpClient, ownsHTTPClient: true, metricsFactory: metricsFactory)
    }

    /// A client with an injected token provider and HTTP client (tests, shared clients). The HTTP
    /// client is not shut down by ``shutdown()``.
    public convenience init(application: GraphApplication, configuration: GraphClientConfiguration = GraphClientConfiguration(),
                            tokenProvider: any GraphTokenProvider, httpClient: HTTPClient,
                            metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance) throws(GraphClientSetupError) {
        try self.init(application: application, configuration: configuration, tokenProvider: tokenProvider,
                      httpClient: httpClient, ownsHTTPClient: false, metricsFactory: metricsFactory)
    }

    private init(application: GraphApplication, configuration: GraphClientConfiguration, tokenProvider: any GraphTokenProvider,
                 httpClient: HTTPClient, ownsHTTPClient: Bool, metricsFactory: any MetricsFactory) throws(GraphClientSetupError) {
        do {
            self.graphRoot = try HTTPURL(application.effectiveGraphEndpoint)
        } catch {
            throw GraphClientSetupError(application: application.name, detail: "graphEndpoint: \(error.detail)")
        }
        self.application = application
        self.configuration = configuration
        self.tokenProvider = tokenProvider
        self.httpClient = httpClient
        self.ownsHTTPClient = ownsHTTPClient
        self.limiter = configuration.maxConcurrentRequestsPerMailbox.map { MailboxConcurrencyLimiter(limit: $0) }
        self.metrics = GraphMetrics(factory: metricsFactory, application: application.name)
        metrics.prepare()
    }

    /// The sendMail URL for `mailbox`.
    public func sendMailURL(mailbox: String) -> HTTPURL {
        userURL(mailbox, "/sendMail")
    }

    /// Fetches a token now, so that credential problems show at start-up. Throws what a send would
    /// report as ``GraphSendFailure/Kind/tokenFailure``.
    public func verifyCredentials(logger: Logger) async throws(GraphTokenError) {
        _ = try await tokenProvider.accessToken(logger: logger)
    }

    /// Submits one message as `mailbox` and reports what became of it. Never throws: every
    /// failure is classified.
    public func sendMail(mailbox: String, message: GraphMessageSource, logger: Logger) async -> GraphSendMailOutcome {
        var logger = logger
        logger[metadataKey: "graph.application"] = "\(application.name)"
        logger[metadataKey: "graph.mailbox"] = "\(mailbox)"
        let started = ContinuousClock.now

        guard Self.isUsableMailbox(mailbox) else {
            return .failed(GraphSendFailure(kind: .unknownMailbox, mailbox: mailbox, message: "invalid mailbox address '\(mailbox)'"))
        }
        let encodedLength = Base64StreamEncoder.encodedLength(of: message.byteCount)
        guard encodedLength <= configuration.maxRequestBodySize else {
            let failure = GraphSendFailure(kind: .tooLarge, mailbox: mailbox,
                message: "message of \(message.byteCount) bytes is \(encodedLength) bytes in base64, above Graph's request limit of \(configuration.maxRequestBodySize) bytes")
            logger.warning("sendMail refused locally", metadata: ["graph.failure": "\(failure)"])
            return .failed(failure)
        }

        let outcome: GraphSendMailOutcome
        switch await request("sendMail", mailbox: mailbox, method: .POST, url: sendMailURL(mailbox: mailbox),
                             headers: ["Content-Type": "text/plain"],
                             body: .stream(length: encodedLength, producer: Self.base64Producer(message)),
                             timeout: configuration.sendMailTimeout, logger: logger) {
        case .failed(let failure):
            outcome = .failed(failure)
        case .answered(let response, let clientRequestID, let attempts):
            outcome = GraphSendMailOutcome.classify(response: response, mailbox: mailbox, clientRequestID: clientRequestID,
                                                    attempts: attempts, messageBytes: message.byteCount)
        }

        let elapsed = (ContinuousClock.now - started).milliseconds
        switch outcome {
        case .accepted(let receipt):
            // Debug: the caller logs the delivery (with the request-id) at info.
            logger.debug("sendMail accepted", metadata: [
                "graph.request-id": "\(receipt.requestID ?? "-")", "graph.client-request-id": "\(receipt.clientRequestID)",
                "graph.bytes": "\(message.byteCount)", "graph.attempts": "\(receipt.attempts)", "graph.duration-ms": "\(elapsed)",
            ])
        case .failed(let failure):
            var metadata: Logger.Metadata = [
                "graph.failure-kind": "\(failure.kind.rawValue)", "graph.request-id": "\(failure.requestID ?? "-")",
                "graph.client-request-id": "\(failure.clientRequestID ?? "-")", "graph.bytes": "\(message.byteCount)",
                "graph.duration-ms": "\(elapsed)", "graph.ambiguous": "\(failure.ambiguous)",
            ]
            if let status = failure.status { metadata["graph.status"] = "\(status)" }
            if let code = failure.errorCode { metadata["graph.error-code"] = "\(code)" }
            if let retryAfter = failure.retryAfter { metadata["graph.retry-after-ms"] = "\(retryAfter.milliseconds)" }
            let text: Logger.Message = "sendMail failed: \(failure)"
            if failure.kind == .tokenFailure || failure.kind == .unauthorized || failure.ambiguous {
                logger.error(text, metadata: metadata)
            } else {
                logger.warning(text, metadata: metadata)
            }
        }
        return outcome
    }

    /// Streams the message as base64: chunks are encoded as they arrive and written in pieces of
    /// about 48 KiB; the raw size is checked against the announced one.
    static func base64Producer(_ message: GraphMessageSource) -> HTTPBodyProducer {
        HTTPBodyProducer { writer in
            var encoder = Base64StreamEncoder()
            let flushSize = 48 * 1024
            var pending = ByteBuffer()
            try await message.run { chunk in
                guard encoder.inputCount + chunk.readableBytes <= message.byteCount else {
                    throw GraphMessageSourceError("message source produced more than the announced \(message.byteCount) bytes")
                }
                encoder.encode(chunk, into: &pending)
                if pending.readableBytes >= flushSize {
                    let part = pending
                    pending = ByteBuffer()
                    try await writer.write(part)
                }
            }
            guard encoder.inputCount == message.byteCount else {
                throw GraphMessageSourceError("message source produced \(encoder.inputCount) of the announced \(message.byteCount) bytes")
            }
            encoder.finish(into: &pending)
            try await writer.write(pending)
        }
    }

    /// Closes the connections (when this client created its HTTP client).
    public func shutdown() async {
        if ownsHTTPClient {
            await httpClient.shutdown()
        }
    }
}
