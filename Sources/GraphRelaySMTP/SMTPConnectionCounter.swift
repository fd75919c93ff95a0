import NIOConcurrencyHelpers
/// Counts open connections in total and per client address; pure bookkeeping, wrapped in a lock by
/// ``SMTPConnectionLimiter``.
struct SMTPConnectionCounter: Hashable {
    enum Admission: Hashable {
        case admitted
        case tooManyConnections
        case tooManyFromClient
    }

    var maximumConnections: Int
    var maximumPerClient: Int
    private(set) var total = 0
    private(set) var perClient: [String: Int] = [:]

    init(maximumConnections: Int, maximumPerClient: Int) {
        self.maximumConnections = maximumConnections
        self.maximumPerClient = maximumPerClient
    }

    /// Counts the connection if it fits; a refused connection is not counted (do not release it).
    mutating func admit(client: String) -> Admission {
        guard total < maximumConnections else { return .tooManyConnections }
        let current = perClient[client, default: 0]
        guard current < maximumPerClient else { return .tooManyFromClient }
        total += 1
        perClient[client] = current + 1
        return .admitted
    }

    mutating func release(client: String) {
        guard let current = perClient[client] else { return }
        total -= 1
        perClient[client] = current > 1 ? current - 1 : nil
    }
}

/// Thread-safe ``SMTPConnectionCounter`` shared by all listeners of a server.
final class SMTPConnectionLimiter: Sendable {
    private let counter: NIOLockedValueBox<SMTPConnectionCounter>

    init(maximumConnections: Int, maximumPerClient: Int) {
        counter = NIOLockedValueBox(SMTPConnectionCounter(maximumConnections: maximumConnections, maximumPerClient: maximumPerClient))
    }

    func admit(client: String) -> SMTPConnectionCounter.Admission {
        counter.withLockedValue { $0.admit(client: client) }
    }

    func release(client: String) {
        counter.withLockedValue { $0.release(client: client) }
    }

    /// New limits for the connections that come next (open ones stay counted).
    func update(maximumConnections: Int, maximumPerClient: Int) {
        counter.withLockedValue {
            $0.maximumConnections = maximumConnections
            $0.maximumPerClient = maximumPerClient
        }
    }

    var openConnections: Int {
        counter.withLockedValue { $0.total }
    }
}
