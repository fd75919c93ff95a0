import GraphRelaySMTP
import NIOPosix

/// AUTH PLAIN/LOGIN against `access.users`. The scrypt check costs about 0.1 s of CPU, so it runs
/// on NIO's blocking thread pool, never on an event loop or Swift's cooperative pool.
struct RelayAuthenticator: SMTPAuthenticator {
    let access: AccessPolicy

    func authenticate(username: String, password: String, session: SMTPSessionInfo) async -> Bool {
        let access = self.access
        let user = try? await NIOThreadPool.singleton.runIfActive {
            access.authenticate(username: username, password: password)
        }
        return user != nil
    }
}
