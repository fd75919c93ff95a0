#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers

/// A ``TLSContext`` that can be rebuilt from changed certificate files without a restart.
///
/// Listeners ask ``current`` for every new connection; ``reload()`` builds a fresh context from the
/// same configuration (re-reading the PEM files) and swaps it in only if that succeeds, so a
/// half-written certificate never takes the listener down. ``reloadIfChanged()`` does the same
/// only when a file's modification time or size changed — cheap enough to call on a timer.
/// Connections already open keep the context they started with.
public final class ReloadableTLSContext: Sendable {
    private struct State {
        var context: TLSContext
        var fingerprint: [String]
    }

    public let configuration: TLSConfiguration
    public let role: TLSRole
    private let state: NIOLockedValueBox<State>

    public init(configuration: TLSConfiguration, role: TLSRole) throws {
        self.configuration = configuration
        self.role = role
        let fingerprint = Self.fingerprint(of: configuration)
        let context = try TLSContext(configuration: configuration, role: role)
        self.state = NIOLockedValueBox(State(context: context, fingerprint: fingerprint))
    }

    /// The context new connections should use.
    public var current: TLSContext {
        state.withLockedValue { $0.context }
    }

    /// Rebuilds the context from the configured files. Throws (and keeps the old context) if the
    /// new files are invalid.
    public func reload() throws {
        let fingerprint = Self.fingerprint(of: configuration)
        let context = try TLSContext(configuration: configuration, role: role)
        state.withLockedValue { $0 = State(context: context, fingerprint: fingerprint) }
    }

    /// Rebuilds the context if a certificate, key or CA file changed since the last build.
    /// - Returns: `true` if a new context is now in use.
    @discardableResult
    public func reloadIfChanged() throws -> Bool {
        let fingerprint = Self.fingerprint(of: configuration)
        guard state.withLockedValue({ $0.fingerprint != fingerprint }) else { return false }
        try reload()
        return true
    }

    private static func fingerprint(of configuration: TLSConfiguration) -> [String] {
        let sources = [configuration.certificateChain, configuration.privateKey].compactMap { $0 }
            + configuration.additionalTrustRoots
        return sources.map { source in
            switch source {
            case .pem(let text):
                return "pem:\(text.hashValue)"
            case .file(let path):
                var info = stat()
                guard stat(path, &info) == 0 else { return "file:\(path):missing" }
                #if canImport(Darwin)
                let modified = "\(info.st_mtimespec.tv_sec).\(info.st_mtimespec.tv_nsec)"
                #else
                let modified = "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
                #endif
                return "file:\(path):\(modified):\(info.st_size):\(info.st_ino)"
            }
        }
    }
}
