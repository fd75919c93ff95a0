/// A failure of the HTTP client, with what happened and whether the request had been sent.
///
/// ``requestSent`` matters for requests that are not idempotent (sendMail): when it is `true` the
/// whole request had been handed to the network before the failure, so the server may have acted
/// on it; when `false` it certainly did not.
public struct HTTPClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// The URL or proxy URL cannot be used.
        case invalidURL = "invalid URL"
        /// TCP connect failed (refused, unreachable, name not resolved).
        case connectFailed = "connect failed"
        /// TCP connect plus TLS handshake (and proxy tunnel) did not finish within the connect timeout.
        case connectTimeout = "connect timed out"
        /// The TLS handshake failed (certificate, protocol).
        case tlsFailed = "TLS failed"
        /// The proxy refused the CONNECT tunnel or answered garbage.
        case proxyFailed = "proxy failed"
        /// No complete response within the request timeout.
        case requestTimeout = "request timed out"
        /// The connection closed or reset before the response was complete.
        case connectionClosed = "connection closed"
        /// The server's response could not be parsed.
        case protocolError = "HTTP protocol error"
        /// The response body exceeded the configured limit.
        case responseTooLarge = "response too large"
        /// The request body source produced more or fewer bytes than announced.
        case bodyLengthMismatch = "request body length mismatch"
        /// The request body source threw.
        case bodySourceFailed = "request body source failed"
        /// The calling task was cancelled.
        case cancelled = "request cancelled"
        /// The client has been shut down.
        case shutdown = "client shut down"
    }

    public var kind: Kind
    /// Human-readable detail (never contains credentials).
    public var detail: String
    /// The endpoint the request went to, e.g. `https://graph.microsoft.com`.
    public var endpoint: String?
    /// Whether the complete request had been written when the failure happened.
    public var requestSent: Bool

    public init(_ kind: Kind, detail: String = "", endpoint: String? = nil, requestSent: Bool = false) {
        self.kind = kind
        self.detail = detail
        self.endpoint = endpoint
        self.requestSent = requestSent
    }

    /// Whether the failure is one of timing or connectivity, worth trying again later.
    public var isTransient: Bool {
        switch kind {
        case .connectFailed, .connectTimeout, .requestTimeout, .connectionClosed, .proxyFailed, .tlsFailed, .protocolError:
            true
        case .invalidURL, .responseTooLarge, .bodyLengthMismatch, .bodySourceFailed, .cancelled, .shutdown:
            false
        }
    }

    public var description: String {
        var text = kind.rawValue
        if let endpoint { text += " (\(endpoint))" }
        if !detail.isEmpty { text += ": \(detail)" }
        if requestSent { text += " [after the request was sent]" }
        return text
    }

    func with(endpoint: String) -> HTTPClientError {
        var copy = self
        if copy.endpoint == nil { copy.endpoint = endpoint }
        return copy
    }
}
