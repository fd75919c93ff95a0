import Foundation
import GraphRelayGraph
import GraphRelaySpool
import Logging

/// Runs a ``DraftDeliveryStateMachine`` against Graph: the requests through the application's
/// ``GraphClient``, the checkpoints through `checkpoint` (the spool, fsynced). Without a
/// `checkpoint` (synchronous delivery: no later attempt will look) a failed attempt settles what
/// it leaves at once: it deletes its draft, or finds that its unanswered send went through.
struct DraftDelivery: Sendable {
    typealias Checkpoint = @Sendable (SpoolDraft?) async throws -> Void

    let client: GraphClient
    let mailbox: String
    let plan: DraftPlan
    /// The message's `Message-ID`, to find drafts an interrupted attempt left without an id.
    let messageID: String?
    let allowsJSONFallback: Bool
    /// Where the draft's stage is recorded; nil when nothing is.
    let checkpoint: Checkpoint?

    func run(saved: SpoolDraft?, logger: Logger) async -> DraftDeliveryStateMachine.Result {
        var machine = DraftDeliveryStateMachine(mailbox: mailbox, format: plan.format.rawValue, attachments: plan.attachments.count,
                                                allowsJSONFallback: allowsJSONFallback)
        var logger = logger
        logger[metadataKey: "graph.draft-format"] = "\(plan.format.rawValue)"
        if let saved {
            logger.notice("an earlier attempt left a draft; continuing from there", metadata: [
                "graph.draft-stage": "\(saved.stage.rawValue)", "graph.draft-id": "\(saved.id ?? "-")",
            ])
        }
        var action = machine.start(saved: saved)
        var uploaded = 0
        /// The stage last recorded: what a failed attempt leaves.
        var recorded = saved
        while true {
            switch action {
            case .checkpoint(var draft):
                draft?.updatedAt = Date()
                do {
                    try await checkpoint?(draft)
                    recorded = draft
                    action = machine.checkpointed()
                } catch {
                    action = machine.checkpointFailed(GraphSendFailure(kind: .localError, mailbox: mailbox,
                                                                       message: "cannot record the draft with the message: \(error)"))
                }
            case .findOrphans:
                guard let messageID else {
                    action = machine.orphansFound([])
                    continue
                }
                switch await client.findDrafts(mailbox: mailbox, internetMessageID: messageID, logger: logger) {
                case .success(let ids):
                    if !ids.isEmpty {
                        logger.notice("deleting drafts an interrupted attempt created", metadata: ["graph.draft-ids": "\(ids)"])
                    }
                    action = machine.orphansFound(ids)
                case .failure(let failure):
                    action = machine.requestFailed(failure)
                }
            case .delete(let id):
                switch await client.deleteDraft(mailbox: mailbox, draftID: id, logger: logger) {
                case .success: action = machine.deleted()
                case .failure(let failure): action = machine.requestFailed(failure)
                }
            case .create:
                let result: Result<String, GraphSendFailure>
                switch plan.draft {
                case .mime(let source): result = await client.createDraft(mailbox: mailbox, mime: source, logger: logger)
                case .json(let json): result = await client.createDraft(mailbox: mailbox, json: json, logger: logger)
                }
                switch result {
                case .success(let id):
                    logger.debug("draft created", metadata: ["graph.draft-id": "\(id)", "graph.attachments": "\(plan.attachments.count)"])
                    action = machine.created(id)
                case .failure(let failure):
                    action = machine.requestFailed(failure)
                }
            case .attach(let index, let id):
                let attachment = plan.attachments[index]
                let result = await add(attachment, to: id, logger: logger)
                switch result {
                case .success:
                    uploaded += attachment.info.size
                    action = machine.attached()
                case .failure(let failure):
                    action = machine.requestFailed(failure)
                }
            case .checkState(let id):
                switch await client.draftState(mailbox: mailbox, draftID: id, logger: logger) {
                case .success(let state):
                    if state != .draft {
                        logger.notice("the draft was sent by an earlier attempt whose answer was lost; not sending it again",
                                      metadata: ["graph.draft-id": "\(id)"])
                    }
                    action = machine.stateChecked(state)
                case .failure(let failure):
                    action = machine.requestFailed(failure)
                }
            case .send(let id):
                switch await client.sendDraft(mailbox: mailbox, draftID: id, logger: logger) {
                case .accepted(let receipt):
                    logger.debug("draft sent", metadata: [
                        "graph.draft-id": "\(id)", "graph.request-id": "\(receipt.requestID ?? "-")",
                        "graph.attachments": "\(plan.attachments.count)", "graph.attachment-bytes": "\(uploaded)",
                    ])
                    action = machine.sent(requestID: receipt.requestID)
                case .failed(let failure):
                    action = machine.requestFailed(failure)
                }
            case .finish(let result):
                if checkpoint == nil, case .failed(let failure) = result {
                    return await settle(failure, left: recorded, logger: logger)
                }
                return result
            }
        }
    }

    /// Without a record of the draft, a failed attempt must not leave one behind: the draft of
    /// an unanswered send is checked (sent → delivered), any other is deleted (best effort).
    private func settle(_ failure: GraphSendFailure, left: SpoolDraft?, logger: Logger) async -> DraftDeliveryStateMachine.Result {
        guard let left else { return .failed(failure) }
        var ids = left.id.map { [$0] } ?? []
        if left.id == nil, let messageID, case .success(let found) = await client.findDrafts(mailbox: mailbox, internetMessageID: messageID, logger: logger) {
            ids = found
        }
        if left.stage == .sending, let id = left.id,
            case .success(let state) = await client.draftState(mailbox: mailbox, draftID: id, logger: logger), state != .draft {
            return .delivered(requestID: nil, earlier: true)
        }
        for id in ids {
            if case .failure(let problem) = await client.deleteDraft(mailbox: mailbox, draftID: id, logger: logger) {
                logger.warning("could not delete the draft of a failed attempt; it stays in the mailbox's Drafts folder",
                               metadata: ["graph.draft-id": "\(id)", "relay.reason": "\(problem)"])
            }
        }
        return .failed(failure)
    }

    /// Adds one attachment: in one request under Graph's upload-session threshold, else through
    /// an upload session.
    private func add(_ attachment: DraftPlan.Attachment, to id: String, logger: Logger) async -> Result<Void, GraphSendFailure> {
        if attachment.info.size < client.configuration.uploadSessionThreshold {
            return await client.addAttachment(mailbox: mailbox, draftID: id, attachment: attachment.info,
                                              content: attachment.content.messageSource, logger: logger)
        }
        return await client.uploadAttachment(mailbox: mailbox, draftID: id, attachment: attachment.info, content: attachment.content, logger: logger)
    }
}
