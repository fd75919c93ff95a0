/// Checks AUTH PLAIN / AUTH LOGIN credentials. The relay supplies one backed by its user list
/// (hashed passwords); without an authenticator AUTH is neither advertised nor accepted.
///
/// Called off the event loop. The password is never logged by the listener; implementations must
/// not log it either.
public protocol SMTPAuthenticator: Sendable {
    /// Whether `username` / `password` are valid. Both are the client's UTF-8 strings, unmodified
    /// (PLAIN's authorisation identity must be empty or equal to `username`).
    func authenticate(username: String, password: String, session: SMTPSessionInfo) async -> SMTPAuthenticationResult
}

/// An authenticator's answer, and the reply the client gets for it.
public enum SMTPAuthenticationResult: Sendable, Hashable {
    /// `235 2.7.0`: the session is authenticated as the user.
    case succeeded
    /// `535 5.7.8`, sent after ``SMTPLimits/authenticationFailureDelay``.
    case failed
    /// `454 4.7.0`, at once: the credentials were not checked (too many failures from this client,
    /// or every password check slot is busy). The client may try again later.
    case temporarilyUnavailable
}
