/// Checks AUTH PLAIN / AUTH LOGIN credentials. The relay supplies one backed by its user list
/// (hashed passwords); without an authenticator AUTH is neither advertised nor accepted.
///
/// Called off the event loop. The password is never logged by the listener; implementations must
/// not log it either. A `false` answer is sent to the client as `535 5.7.8` after
/// ``SMTPLimits/authenticationFailureDelay``.
public protocol SMTPAuthenticator: Sendable {
    /// Whether `username` / `password` are valid. Both are the client's UTF-8 strings, unmodified
    /// (PLAIN's authorisation identity must be empty or equal to `username`).
    func authenticate(username: String, password: String, session: SMTPSessionInfo) async -> Bool
}
