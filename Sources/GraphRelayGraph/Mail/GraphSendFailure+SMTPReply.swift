extension GraphSendFailure {
    /// The SMTP reply for the device (docs/graph.md, "Outcomes and SMTP replies"):
    ///
    /// | failure | reply |
    /// |---|---|
    /// | invalid content (400) | 554 5.6.0 |
    /// | `ErrorInvalidRecipients` | 550 5.1.3 |
    /// | 413 / `ErrorMessageSizeExceeded` | 552 5.3.4 |
    /// | 403 `ErrorSendAsDenied` / `ErrorAccessDenied` | 550 5.7.1 with Graph's message |
    /// | 404 unknown mailbox | 550 5.1.1 |
    /// | 429 / 503 | 451 4.4.5 |
    /// | 504, timeouts | 451 4.4.1 |
    /// | connection, TLS, proxy errors | 451 4.4.2 |
    /// | other 5xx | 451 4.4.0 |
    /// | token failure, persistent 401 | 451 4.7.0 |
    /// | other 4xx | 554 5.0.0 |
    /// | relay-local failure | 451 4.3.0 |
    /// | too large and not splittable (malformed MIME) | 554 5.6.0 |
    public var smtpReply: GraphSMTPReply {
        let reference = requestID.map { " (request-id \($0))" } ?? ""
        switch kind {
        case .invalidContent:
            return GraphSMTPReply(code: 554, enhancedCode: "5.6.0", text: "Message content rejected by Microsoft Graph: \(message)\(reference)")
        case .invalidRecipients:
            return GraphSMTPReply(code: 550, enhancedCode: "5.1.3", text: "Recipients rejected by Microsoft Graph: \(message)\(reference)")
        case .tooLarge:
            return GraphSMTPReply(code: 552, enhancedCode: "5.3.4", text: "Message too big for Microsoft Graph: \(message)")
        case .denied:
            return GraphSMTPReply(code: 550, enhancedCode: "5.7.1", text: "\(message)\(reference)")
        case .unknownMailbox:
            return GraphSMTPReply(code: 550, enhancedCode: "5.1.1", text: "Mailbox \(mailbox) unknown to Microsoft Graph\(reference)")
        case .throttled:
            return GraphSMTPReply(code: 451, enhancedCode: "4.4.5", text: "Microsoft Graph is throttling, try again later\(reference)")
        case .transient:
            switch (status, transportError?.kind) {
            case (503?, _):
                return GraphSMTPReply(code: 451, enhancedCode: "4.4.5", text: "Microsoft Graph unavailable, try again later\(reference)")
            case (504?, _), (_, .requestTimeout?), (_, .connectTimeout?):
                return GraphSMTPReply(code: 451, enhancedCode: "4.4.1", text: "No answer from Microsoft Graph, try again later")
            case (nil, _):
                return GraphSMTPReply(code: 451, enhancedCode: "4.4.2", text: "Connection to Microsoft Graph failed, try again later")
            default:
                return GraphSMTPReply(code: 451, enhancedCode: "4.4.0", text: "Microsoft Graph error \(status.map(String.init) ?? ""), try again later\(reference)")
            }
        case .unauthorized, .tokenFailure:
            return GraphSMTPReply(code: 451, enhancedCode: "4.7.0", text: "Cannot authenticate to Microsoft Graph, try again later")
        case .rejected:
            return GraphSMTPReply(code: 554, enhancedCode: "5.0.0", text: "Rejected by Microsoft Graph: \(message)\(reference)")
        case .localError:
            return GraphSMTPReply(code: 451, enhancedCode: "4.3.0", text: "Local error in processing, try again later")
        case .malformed:
            return GraphSMTPReply(code: 554, enhancedCode: "5.6.0", text: "Message cannot be relayed: \(message)")
        }
    }
}
