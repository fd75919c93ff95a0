import NIOConcurrencyHelpers
import NIOCore

/// Idle keep-alive connections per endpoint. A request takes the most recently used live idle
/// connection (or the caller opens a new one) and gives it back when done; connections beyond
/// ``HTTPClientConfiguration/maxIdleConnectionsPerEndpoint`` or that cannot be reused are closed.
/// A connection that closes while idle (idle timer, server close) leaves the pool at once.
final class HTTPConnectionPool: Sendable {
    private struct State {
        var idle: [HTTPEndpoint: [HTTP1Connection]] = [:]
        var nextID = 1
        var isShutdown = false
        var open: [Int: HTTP1Connection] = [:]
    }

    private let state = NIOLockedValueBox(State())
    let maxIdlePerEndpoint: Int
    let idleTimeout: TimeAmount

    init(maxIdlePerEndpoint: Int, idleTimeout: TimeAmount) {
        self.maxIdlePerEndpoint = maxIdlePerEndpoint
        self.idleTimeout = idleTimeout
    }

    private static var shutDown: HTTPClientError { HTTPClientError(.shutdown, detail: "the HTTP client is shut down") }

    /// A live idle connection to `endpoint`, or nil.
    func takeIdle(for endpoint: HTTPEndpoint) throws(HTTPClientError) -> HTTP1Connection? {
        try state.withLockedValue { state -> Result<HTTP1Connection?, HTTPClientError> in
            guard !state.isShutdown else { return .failure(Self.shutDown) }
            while var list = state.idle[endpoint], let connection = list.popLast() {
                state.idle[endpoint] = list.isEmpty ? nil : list
                if connection.isActive { return .success(connection) }
            }
            return .success(nil)
        }.get()
    }

    /// An id for a new connection.
    func reserveID() throws(HTTPClientError) -> Int {
        try state.withLockedValue { state -> Result<Int, HTTPClientError> in
            guard !state.isShutdown else { return .failure(Self.shutDown) }
            defer { state.nextID += 1 }
            return .success(state.nextID)
        }.get()
    }

    /// Tracks a newly opened connection until its channel closes.
    func opened(_ connection: HTTP1Connection) {
        let accepted = state.withLockedValue { state -> Bool in
            guard !state.isShutdown else { return false }
            state.open[connection.id] = connection
            return true
        }
        guard accepted else {
            connection.close()
            return
        }
        connection.channel.closeFuture.whenComplete { [self] _ in
            self.removeClosed(connection)
        }
    }

    /// Returns a connection after a request.
    func release(_ connection: HTTP1Connection, reusable: Bool) {
        let keep = state.withLockedValue { state -> Bool in
            guard reusable, !state.isShutdown, connection.isActive else { return false }
            var list = state.idle[connection.endpoint] ?? []
            guard list.count < maxIdlePerEndpoint else { return false }
            list.append(connection)
            state.idle[connection.endpoint] = list
            return true
        }
        if keep {
            connection.markIdle(timeout: idleTimeout)
        } else {
            connection.close()
        }
    }

    private func removeClosed(_ connection: HTTP1Connection) {
        state.withLockedValue { state in
            state.open[connection.id] = nil
            if var list = state.idle[connection.endpoint] {
                list.removeAll { $0.id == connection.id }
                state.idle[connection.endpoint] = list.isEmpty ? nil : list
            }
        }
    }

    /// Number of idle connections (for tests and metrics).
    var idleCount: Int {
        state.withLockedValue { $0.idle.values.reduce(0) { $0 + $1.count } }
    }

    /// Closes every connection and refuses new requests; returns once all channels are closed.
    func shutdown() async {
        let connections = state.withLockedValue { state -> [HTTP1Connection] in
            state.isShutdown = true
            state.idle = [:]
            return Array(state.open.values)
        }
        for connection in connections {
            connection.close()
        }
        for connection in connections {
            try? await connection.channel.closeFuture.get()
        }
    }
}
