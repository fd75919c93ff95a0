import GraphRelayGraph
import GraphRelayMIME
import GraphRelaySpool
import Logging

/// Submits one message to Graph the way `graph.sendVia` says: one `sendMail` request when it
/// fits (4 MB after base64), else — or always, with `drafts` — a draft with its large parts as
/// attachments, then `send` (``DraftDelivery``). Both the spool's delivery agent and synchronous
/// delivery go through here.
struct GraphDelivery: Sendable {
    let clients: GraphClients
    let sendVia: RelayConfiguration.SendVia
    let largeMessageFormat: RelayConfiguration.LargeMessageFormat

    init(clients: GraphClients, graph: RelayConfiguration.GraphSettings) {
        self.clients = clients
        self.sendVia = graph.sendVia
        self.largeMessageFormat = graph.largeMessageFormat
    }

    /// One message for one route.
    struct Message: Sendable {
        var content: MessageContent
        var application: String
        var mailbox: String
        /// Its `Message-ID` (to find drafts of an interrupted attempt).
        var messageID: String?
        /// The draft an earlier attempt left, from the message's record.
        var savedDraft: SpoolDraft?
        /// Records the draft's progress with the message (fsynced); nil for synchronous delivery,
        /// where a failed attempt settles its draft at once.
        var checkpoint: DraftDelivery.Checkpoint?
    }

    /// What became of it; `earlier` when an earlier attempt's send turned out to have gone through.
    func deliver(_ message: Message, logger: Logger) async -> (outcome: GraphSendMailOutcome, earlier: Bool) {
        guard let client = clients.client(for: message.application) else {
            return (.failed(GraphSendFailure(kind: .denied, mailbox: message.mailbox,
                                             message: "application '\(message.application)' is no longer configured")), false)
        }
        let fits = message.content.byteCount <= client.configuration.maxMessageSize
        let viaDraft = message.savedDraft != nil || sendVia == .drafts || (sendVia == .auto && !fits)
        guard viaDraft else {
            return (await client.sendMail(mailbox: message.mailbox, message: message.content.source, logger: logger), false)
        }
        let structure: MIMEStructure
        do {
            structure = try await message.content.structure()
        } catch {
            return (.failed(GraphSendFailure(kind: .localError, mailbox: message.mailbox, message: "cannot read the message: \(error)")), false)
        }
        var format = largeMessageFormat == .json || clients.refusesMIMEDraftAttachments(message.application) ? RelayConfiguration.LargeMessageFormat.json : .mime
        var saved = message.savedDraft
        while true {
            let plan: DraftPlan
            do {
                switch format {
                case .mime: plan = try DraftPlan.mime(structure, content: message.content, budget: client.configuration.maxMessageSize)
                case .json: plan = try await DraftPlan.json(structure, content: message.content)
                }
            } catch let failure as MIMEExtractionPlan.Failure {
                return (.failed(GraphSendFailure(kind: .malformed, mailbox: message.mailbox,
                    message: "the message (\(message.content.byteCount) bytes) is too large for one Graph request and cannot be split into a draft and attachments: \(failure)")), false)
            } catch {
                return (.failed(GraphSendFailure(kind: .localError, mailbox: message.mailbox, message: "cannot read the message: \(error)")), false)
            }
            let delivery = DraftDelivery(client: client, mailbox: message.mailbox, plan: plan, messageID: message.messageID,
                                         allowsJSONFallback: format == .mime && largeMessageFormat == .mime,
                                         checkpoint: message.checkpoint)
            switch await delivery.run(saved: saved, logger: logger) {
            case .delivered(let requestID, let earlier):
                let receipt = GraphSendMailReceipt(mailbox: message.mailbox, requestID: requestID, clientRequestID: "-",
                                                   attempts: 1, messageBytes: message.content.byteCount)
                return (.accepted(receipt), earlier)
            case .failed(let failure):
                return (.failed(failure), false)
            case .retryAsJSON:
                clients.rememberMIMEDraftAttachmentsRefused(message.application, logger: logger)
                format = .json
                saved = nil
            }
        }
    }
}
