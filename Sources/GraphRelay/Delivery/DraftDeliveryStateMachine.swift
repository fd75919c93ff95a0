import Foundation
import GraphRelayGraph
import GraphRelaySpool

/// How one message goes through a Graph draft, exactly once, as a pure state machine: create the
/// draft, record its id, add the attachments, record that the send is due, send — and after a
/// crash or an answer that never came, find out where the last attempt stopped.
///
/// The rules (docs/graph.md, "Exactly once"):
/// - The draft's stage is recorded (``Action/checkpoint(_:)``, fsynced) before each step that
///   could leave something behind: `creating` before the draft is created (a lost answer leaves a
///   draft whose id is unknown: the next attempt finds it by Message-ID and deletes it), `building`
///   with its id once known, `sending` once every attachment is in.
/// - A draft left `building` is deleted and the message built again; one left `sending` is
///   checked: still a draft → sent again; gone or no longer a draft → it was sent: delivered once.
/// - A permanent failure deletes the draft before the message is given up (the bounce comes
///   after); if that delete fails the failure is reported as temporary, so the draft is deleted
///   by a later attempt rather than left behind.
/// - With ``allowsJSONFallback``, an attachment refused on a MIME draft (a 400 that is not about
///   size) deletes the draft and finishes with ``Result/retryAsJSON``.
struct DraftDeliveryStateMachine: Sendable {
    enum Action: Sendable, Equatable {
        /// Record the draft's stage with the message (nil: no draft any more); answer
        /// ``checkpointed()`` or ``checkpointFailed(_:)``.
        case checkpoint(SpoolDraft?)
        /// Look for drafts of this message that an attempt created without learning their id.
        case findOrphans
        case delete(draftID: String)
        case create
        /// Add the attachment with this index to the draft.
        case attach(Int, draftID: String)
        case checkState(draftID: String)
        case send(draftID: String)
        case finish(Result)
    }

    enum Result: Sendable, Equatable {
        /// Graph accepted the send; `earlier`: an earlier attempt's send had gone through.
        case delivered(requestID: String?, earlier: Bool)
        case failed(GraphSendFailure)
        /// Graph refused attachments on the MIME draft, which is deleted: build the message as JSON.
        case retryAsJSON
    }

    /// What comes after a draft is deleted.
    private enum AfterDelete: Sendable {
        case create
        case fail(GraphSendFailure)
        case fallBack
        /// More orphans to delete, then create.
        case orphans([String])
        /// The failure was the relay's own (recording the draft): report it, record nothing.
        case report(GraphSendFailure)
    }

    private enum State: Sendable {
        case idle
        case findingOrphans
        case deleting(String, then: AfterDelete)
        case markingCreating
        case creating
        case recordingID(String)
        case attaching(String, Int)
        case markingSending(String)
        case checking(String)
        case sending(String)
        /// Recording that no draft is left, then finishing.
        case clearing(Result)
        case done
    }

    let mailbox: String
    let format: String
    let attachments: Int
    let allowsJSONFallback: Bool
    private var state = State.idle

    init(mailbox: String, format: String, attachments: Int, allowsJSONFallback: Bool) {
        self.mailbox = mailbox
        self.format = format
        self.attachments = attachments
        self.allowsJSONFallback = allowsJSONFallback
    }

    /// Starts from what the message's record says an earlier attempt left (nil: nothing).
    mutating func start(saved: SpoolDraft?) -> Action {
        guard case .idle = state else { return unexpected("start") }
        switch (saved?.stage, saved?.id) {
        case (nil, _):
            state = .markingCreating
            return .checkpoint(draft(.creating))
        case (.creating?, nil):
            state = .findingOrphans
            return .findOrphans
        case (.sending?, let id?):
            state = .checking(id)
            return .checkState(draftID: id)
        case (_, let id?):
            state = .deleting(id, then: .create)
            return .delete(draftID: id)
        case (_, nil):
            state = .markingCreating
            return .checkpoint(draft(.creating))
        }
    }

    mutating func checkpointed() -> Action {
        switch state {
        case .markingCreating:
            state = .creating
            return .create
        case .recordingID(let id):
            state = .attaching(id, 0)
            return .attach(0, draftID: id)
        case .markingSending(let id):
            state = .sending(id)
            return .send(draftID: id)
        case .clearing(let result):
            state = .done
            return .finish(result)
        default:
            return unexpected("checkpointed")
        }
    }

    /// Recording failed (a spool error, or the message was deleted by queue tooling): a draft
    /// this attempt made is deleted, and the failure reported.
    mutating func checkpointFailed(_ failure: GraphSendFailure) -> Action {
        switch state {
        case .recordingID(let id), .markingSending(let id):
            state = .deleting(id, then: .report(failure))
            return .delete(draftID: id)
        default:
            state = .done
            return .finish(.failed(failure))
        }
    }

    mutating func orphansFound(_ ids: [String]) -> Action {
        guard case .findingOrphans = state else { return unexpected("orphansFound") }
        guard let first = ids.first else {
            state = .creating  // the record already says `creating`
            return .create
        }
        state = .deleting(first, then: .orphans(Array(ids.dropFirst())))
        return .delete(draftID: first)
    }

    mutating func deleted() -> Action {
        guard case .deleting(_, let then) = state else { return unexpected("deleted") }
        switch then {
        case .create:
            state = .markingCreating
            return .checkpoint(draft(.creating))
        case .orphans(let rest):
            if let next = rest.first {
                state = .deleting(next, then: .orphans(Array(rest.dropFirst())))
                return .delete(draftID: next)
            }
            state = .creating
            return .create
        case .fail(let failure):
            state = .clearing(.failed(failure))
            return .checkpoint(nil)
        case .fallBack:
            state = .clearing(.retryAsJSON)
            return .checkpoint(nil)
        case .report(let failure):
            state = .done
            return .finish(.failed(failure))
        }
    }

    mutating func created(_ id: String) -> Action {
        guard case .creating = state else { return unexpected("created") }
        if attachments == 0 {
            state = .markingSending(id)
            return .checkpoint(draft(.sending, id))
        }
        state = .recordingID(id)
        return .checkpoint(draft(.building, id))
    }

    mutating func attached() -> Action {
        guard case .attaching(let id, let index) = state else { return unexpected("attached") }
        if index + 1 < attachments {
            state = .attaching(id, index + 1)
            return .attach(index + 1, draftID: id)
        }
        state = .markingSending(id)
        return .checkpoint(draft(.sending, id))
    }

    mutating func stateChecked(_ draftState: GraphDraftState) -> Action {
        guard case .checking(let id) = state else { return unexpected("stateChecked") }
        switch draftState {
        case .draft:
            state = .sending(id)
            return .send(draftID: id)
        case .sent, .notFound:
            state = .done
            return .finish(.delivered(requestID: nil, earlier: true))
        }
    }

    mutating func sent(requestID: String?) -> Action {
        guard case .sending = state else { return unexpected("sent") }
        state = .done
        return .finish(.delivered(requestID: requestID, earlier: false))
    }

    /// A Graph request failed.
    mutating func requestFailed(_ failure: GraphSendFailure) -> Action {
        switch state {
        case .creating:
            // A lost answer may have left a draft whose id we never learnt: the record keeps
            // saying `creating`, and the next attempt looks for it. Otherwise nothing was made.
            if failure.ambiguous {
                state = .done
                return .finish(.failed(failure))
            }
            state = .clearing(.failed(failure))
            return .checkpoint(nil)
        case .attaching(let id, _):
            if allowsJSONFallback && Self.isRefusal(failure) {
                state = .deleting(id, then: .fallBack)
            } else {
                state = .deleting(id, then: .fail(failure))
            }
            return .delete(draftID: id)
        case .sending(let id):
            if failure.status == 404 {
                // The draft is gone: sent by an earlier attempt whose answer was lost.
                state = .done
                return .finish(.delivered(requestID: failure.requestID, earlier: true))
            }
            if failure.isPermanent {
                state = .deleting(id, then: .fail(failure))
                return .delete(draftID: id)
            }
            // Complete and perhaps sent: the record says `sending`; the next attempt checks.
            state = .done
            return .finish(.failed(failure))
        case .deleting(_, let then):
            state = .done
            switch then {
            case .fail(let original) where original.isPermanent:
                // Not given up before its draft is gone: a later attempt deletes it first.
                var deferred = failure
                if deferred.isPermanent { deferred.kind = .transient }
                deferred.message = "cannot delete the draft before giving up (\(original.kind.rawValue): \(original.message)): \(failure.message)"
                return .finish(.failed(deferred))
            case .report(let original):
                return .finish(.failed(original))
            default:
                return .finish(.failed(failure))
            }
        case .findingOrphans, .checking:
            state = .done
            return .finish(.failed(failure))
        default:
            return unexpected("requestFailed")
        }
    }

    /// Graph refused an attachment for a reason other than its size or a missing permission:
    /// what a draft made from MIME may get if Graph does not allow attachments on it.
    static func isRefusal(_ failure: GraphSendFailure) -> Bool {
        guard let status = failure.status, [400, 405, 409, 422].contains(status) else { return false }
        return failure.kind != .tooLarge && failure.kind != .denied && failure.kind != .throttled
    }

    /// The record of a stage (its time is set when it is written).
    private func draft(_ stage: SpoolDraft.Stage, _ id: String? = nil) -> SpoolDraft {
        SpoolDraft(stage: stage, id: id, mailbox: mailbox, format: format, updatedAt: .distantPast)
    }

    private mutating func unexpected(_ event: String) -> Action {
        state = .done
        return .finish(.failed(GraphSendFailure(kind: .localError, mailbox: mailbox, message: "draft delivery: unexpected \(event)")))
    }
}
