import NIOCore

/// A failure the emulator injects into the next request(s) of an operation.
public enum GraphEmulatorFault: Sendable, Hashable {
    /// Answer with this Graph error (after the body has arrived and the token was checked).
    case error(status: Int, code: String, message: String, retryAfter: String? = nil)
    /// 429 `ApplicationThrottled` with `Retry-After`.
    case throttle(retryAfter: String = "1")
    /// 503 `ServiceUnavailable`, optionally with `Retry-After`.
    case serviceUnavailable(retryAfter: String? = nil)
    /// 504 `GatewayTimeout`.
    case gatewayTimeout
    /// Wait this long before answering normally (a slow Graph).
    case delay(TimeAmount)
    /// Close the connection as soon as body bytes arrive (nothing was processed).
    case dropDuringRequest
    /// Read the whole request, then close without answering (processing unknown to the client).
    case dropAfterRequest
    /// Do what was asked (store the message, send the draft, keep the chunk), then close
    /// without answering: the ambiguous case where Graph acted but the client never heard.
    case acceptThenDrop
    /// Upload chunks: the session has expired (404 `ErrorItemNotFound`; the session is gone).
    case sessionExpired
}

/// The requests faults can be injected into.
public enum GraphEmulatorOperation: String, Sendable, Hashable, CaseIterable {
    case sendMail
    case createDraft
    case addAttachment
    case createUploadSession
    case uploadChunk
    case uploadStatus
    case sendDraft
    case draftState
    case deleteDraft
    case findDrafts
}

/// A failure the emulator injects into the next token request(s).
public enum GraphEmulatorTokenFault: Sendable, Hashable {
    /// Answer with an OAuth error, e.g. `.error(status: 401, error: "invalid_client", code: 7000215, description: "…")`.
    case error(status: Int, error: String, code: Int, description: String)
    /// Close the connection without answering (login endpoint outage).
    case outage
    /// 503 with an HTML body (a front end failing).
    case unavailable
    /// Wait this long before answering normally.
    case delay(TimeAmount)
}
