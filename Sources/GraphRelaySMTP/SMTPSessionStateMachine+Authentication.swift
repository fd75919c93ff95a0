import GraphRelayMIME
import GraphRelayTLS
import NIOCore

// AUTH PLAIN and LOGIN: the exchange and the credentials it yields.
extension SMTPSessionStateMachine {
    // MARK: AUTH

    mutating func authenticate(mechanism: String, initialResponse: String?) {
        guard configuration.authenticationAvailable else { return reply(.badSequence("authentication not enabled")) }
        guard session.usedEHLO else { return reply(.badSequence("send EHLO first")) }
        guard session.authenticatedUser == nil else { return reply(.badSequence("already authenticated")) }
        guard transaction == nil else { return reply(.badSequence("MAIL transaction in progress")) }
        guard authenticationPermitted else { return reply(.encryptionRequiredForAuthentication) }
        switch mechanism {
        case "PLAIN":
            if let initialResponse {
                authenticationResponse(Array(initialResponse.utf8), [], .plain)
            } else {
                state = .authResponse(.plain)
                pending.append(.reply(.authenticationChallenge("")))
            }
        case "LOGIN":
            if let initialResponse {
                authenticationResponse(Array(initialResponse.utf8), [], .loginUsername)
            } else {
                state = .authResponse(.loginUsername)
                pending.append(.reply(.authenticationChallenge(Self.loginUsernamePrompt)))
            }
        default:
            reply(.unrecognizedAuthenticationType)
        }
    }

    /// A client response in an AUTH exchange (or the initial response). Never logged.
    mutating func authenticationResponse(_ line: [UInt8], _ defects: SMTPInboundDecoder.LineDefects, _ step: AuthStep) {
        if defects.contains(.nul) { return reply(.nulInCommand) }
        if defects.contains(.bareCR) || (defects.contains(.bareLF) && configuration.listener.lineEndings == .strict) {
            return reply(.bareLineEndingInCommand)
        }
        if line == [UInt8(ascii: "*")] { return reply(.authenticationCancelled) }
        // "=" is an empty initial response (RFC 4954 §4).
        let encoded = line == [UInt8(ascii: "=")] ? [] : line
        guard let decoded = Base64.decode(encoded) else { return reply(.cannotDecodeResponse) }
        switch step {
        case .plain:
            // authzid NUL authcid NUL passwd (RFC 4616).
            let parts = decoded.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[1].isEmpty, !parts[2].contains(0) else {
                return reply(.malformedAuthenticationResponse)
            }
            guard let username = Self.utf8(parts[1]), let password = Self.utf8(parts[2]), let authorization = Self.utf8(parts[0]),
                  authorization.isEmpty || authorization == username
            else { return reply(.authenticationFailed) }
            verify(username: username, password: password)
        case .loginUsername:
            guard !decoded.isEmpty, let username = Self.utf8(decoded[...]) else { return reply(.malformedAuthenticationResponse) }
            state = .authResponse(.loginPassword(username))
            pending.append(.reply(.authenticationChallenge(Self.loginPasswordPrompt)))
        case .loginPassword(let username):
            guard let password = Self.utf8(decoded[...]) else { return reply(.authenticationFailed) }
            verify(username: username, password: password)
        }
    }

    mutating func verify(username: String, password: String) {
        suspension = .credentials(username)
        pending.append(.verifyCredentials(username: username, password: password, session))
    }

    static func utf8(_ bytes: ArraySlice<UInt8>) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.utf8.elementsEqual(bytes) ? text : nil
    }
}
