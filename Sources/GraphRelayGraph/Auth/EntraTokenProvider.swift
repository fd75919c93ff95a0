import CoreMetrics
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Access tokens from Entra ID for one application: the client-credentials grant
/// (`POST {login}/{tenant}/oauth2/v2.0/token`) with a client secret, a certificate assertion or a
/// workload identity assertion, or, for a managed identity, the VM's instance metadata service
/// (`GET {imds}?api-version=…&resource=…`). Building the request is in
/// `EntraTokenProvider+Requests.swift`; caching, single flight and error handling are the same
/// for every credential.
///
/// Tokens are cached and refreshed ``refreshMargin`` before `expires_in` runs out (at most half
/// the lifetime early). Concurrent callers share one request (single flight). If a refresh fails
/// while the cached token is still valid for at least 30 s, the cached token is used and a warning
/// logged. Secrets, assertions and tokens are never logged.
public actor EntraTokenProvider: GraphTokenProvider {
    public nonisolated let application: GraphApplication
    private let httpClient: HTTPClient
    let signer: ClientAssertionSigner?
    /// How long before expiry a token is replaced. Default 5 minutes.
    public nonisolated let refreshMargin: Duration
    /// Time limit of one token request. Default 30 s.
    public nonisolated let requestTimeout: TimeAmount

    private var cached: GraphAccessToken?
    private var inFlight: Task<GraphAccessToken, any Error>?
    /// Token requests sent so far (for tests and metrics).
    public private(set) var tokenRequestCount = 0
    private nonisolated let metrics: GraphMetrics

    /// - Throws: ``GraphTokenError`` (``GraphTokenError/Kind/credentialUnavailable``) when a
    ///   certificate credential cannot be loaded, or the token URL is invalid.
    public init(application: GraphApplication, httpClient: HTTPClient,
                refreshMargin: Duration = .seconds(300), requestTimeout: TimeAmount = .seconds(30),
                metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance) throws(GraphTokenError) {
        self.application = application
        self.metrics = GraphMetrics(factory: metricsFactory, application: application.name)
        self.httpClient = httpClient
        self.refreshMargin = refreshMargin
        self.requestTimeout = requestTimeout
        if let identity = application.managedIdentity {
            do {
                _ = try HTTPURL(identity.tokenURL(resource: application.resource))
            } catch {
                throw GraphTokenError(.credentialUnavailable, application: application.name,
                                      detail: "managedIdentity.endpoint: \(error.detail)", source: .instanceMetadata)
            }
        } else {
            do {
                _ = try HTTPURL(application.tokenURL)
            } catch {
                throw GraphTokenError(.credentialUnavailable, application: application.name, detail: "loginEndpoint: \(error.detail)")
            }
        }
        if case .certificate(let certificate, let key) = application.credential {
            do {
                self.signer = try ClientAssertionSigner(certificate: certificate, privateKey: key)
            } catch {
                throw GraphTokenError(.credentialUnavailable, application: application.name, detail: error.description)
            }
        } else {
            self.signer = nil
        }
    }

    public func accessToken(logger: Logger) async throws(GraphTokenError) -> GraphAccessToken {
        if let cached, ContinuousClock.now < cached.refreshAt {
            return cached
        }
        let task: Task<GraphAccessToken, any Error>
        if let inFlight {
            task = inFlight
        } else {
            task = Task { try await self.fetch(logger: logger) }
            inFlight = task
        }
        do {
            let token = try await task.value
            if inFlight == task { inFlight = nil }
            if cached.map({ $0.expiresAt < token.expiresAt }) ?? true {
                cached = token
            }
            return token
        } catch {
            if inFlight == task { inFlight = nil }
            let failure = error as? GraphTokenError
                ?? GraphTokenError(.endpointUnavailable, application: application.name, detail: "\(error)")
            if let cached, ContinuousClock.now < cached.expiresAt - .seconds(30) {
                logger.warning("token refresh failed; using the cached token until it expires", metadata: [
                    "graph.application": "\(application.name)", "graph.token-error": "\(failure)",
                ])
                return cached
            }
            throw failure
        }
    }

    public func invalidate(_ token: GraphAccessToken) async {
        if cached?.value == token.value {
            cached = nil
        }
    }

    private func fetch(logger: Logger) async throws(GraphTokenError) -> GraphAccessToken {
        do {
            let token = try await requestToken(logger: logger)
            metrics.tokenRequestFinished(success: true)
            return token
        } catch {
            metrics.tokenRequestFinished(success: false)
            throw error
        }
    }

    private func requestToken(logger: Logger) async throws(GraphTokenError) -> GraphAccessToken {
        let name = application.name
        let request = try tokenRequest()
        tokenRequestCount += 1
        let started = ContinuousClock.now
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: requestTimeout, logger: logger)
        } catch {
            throw GraphTokenError(.endpointUnavailable, application: name, detail: error.description, source: source)
        }
        guard response.status == .ok else {
            let status = Int(response.status.code)
            let failure = application.managedIdentity == nil
                ? GraphTokenError.fromResponse(status: status, body: response.bodyString, application: name)
                : GraphTokenError.fromInstanceMetadataResponse(status: status, body: response.bodyString, application: name)
            logger.error("token request failed", metadata: [
                "graph.application": "\(name)", "graph.token-error": "\(failure)",
            ])
            throw failure
        }
        guard let json = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any],
              let value = json["access_token"] as? String, !value.isEmpty else {
            throw GraphTokenError(.invalidResponse, application: name, status: 200, detail: "no access_token in the token response",
                                  source: source)
        }
        // Entra answers a number, the instance metadata service a string.
        let expiresIn = (json["expires_in"] as? Int) ?? (json["expires_in"] as? String).flatMap(Int.init) ?? 3599
        let lifetime = Duration.seconds(max(expiresIn, 1))
        let now = ContinuousClock.now
        let early = min(refreshMargin, lifetime / 2)
        let token = GraphAccessToken(value: value, expiresAt: now + lifetime, refreshAt: now + lifetime - early)
        logger.info("access token acquired", metadata: [
            "graph.application": "\(name)", "graph.token-expires-in": "\(expiresIn)",
            "graph.token-latency-ms": "\((ContinuousClock.now - started).milliseconds)",
        ])
        return token
    }

    /// Where tokens come from, for error messages.
    nonisolated var source: GraphTokenError.Source {
        application.managedIdentity == nil ? .tokenEndpoint : .instanceMetadata
    }
}
