import GraphRelayGraph
import GraphRelaySpool
import Testing
@testable import GraphRelay

@Suite("Draft delivery: exactly once (state machine)")
struct DraftDeliveryStateMachineTests {
    typealias Machine = DraftDeliveryStateMachine

    func machine(attachments: Int = 2, fallback: Bool = true) -> Machine {
        Machine(mailbox: "scanner@contoso.com", format: "mime", attachments: attachments, allowsJSONFallback: fallback)
    }

    func failure(_ kind: GraphSendFailure.Kind, status: Int? = nil, ambiguous: Bool = false) -> GraphSendFailure {
        GraphSendFailure(kind: kind, mailbox: "scanner@contoso.com", status: status, message: "test", ambiguous: ambiguous)
    }

    /// The stage and id of a checkpoint action (nil for `checkpoint(nil)`), or a marker when the
    /// action is something else.
    func recorded(_ action: Machine.Action) -> String {
        guard case .checkpoint(let draft) = action else { return "not a checkpoint: \(action)" }
        guard let draft else { return "none" }
        return "\(draft.stage.rawValue) \(draft.id ?? "-")"
    }

    func saved(_ stage: SpoolDraft.Stage, _ id: String?) -> SpoolDraft {
        SpoolDraft(stage: stage, id: id, mailbox: "scanner@contoso.com", format: "mime")
    }

    @Test("the whole way: every stage is recorded before the step that could leave something behind")
    func happyPath() {
        var machine = machine()
        #expect(recorded(machine.start(saved: nil)) == "creating -")
        #expect(machine.checkpointed() == .create)
        #expect(recorded(machine.created("D1")) == "building D1")
        #expect(machine.checkpointed() == .attach(0, draftID: "D1"))
        #expect(machine.attached() == .attach(1, draftID: "D1"))
        #expect(recorded(machine.attached()) == "sending D1")
        #expect(machine.checkpointed() == .send(draftID: "D1"))
        #expect(machine.sent(requestID: "r") == .finish(.delivered(requestID: "r", earlier: false)))
    }

    @Test("without attachments the draft goes straight to 'sending' (graph.sendVia: drafts for small messages)")
    func noAttachments() {
        var machine = machine(attachments: 0)
        _ = machine.start(saved: nil)
        _ = machine.checkpointed()
        #expect(recorded(machine.created("D1")) == "sending D1")
    }

    @Test("an answer to send that never came: the record says 'sending'; the next attempt checks before sending again")
    func ambiguousSend() {
        var first = machine(attachments: 0)
        _ = first.start(saved: nil)
        _ = first.checkpointed()
        _ = first.created("D1")
        _ = first.checkpointed()
        let lost = failure(.transient, ambiguous: true)
        #expect(first.requestFailed(lost) == .finish(.failed(lost)))

        var sent = machine(attachments: 0)
        #expect(sent.start(saved: saved(.sending, "D1")) == .checkState(draftID: "D1"))
        #expect(sent.stateChecked(.notFound) == .finish(.delivered(requestID: nil, earlier: true)))

        var notYet = machine(attachments: 0)
        _ = notYet.start(saved: saved(.sending, "D1"))
        #expect(notYet.stateChecked(.draft) == .send(draftID: "D1"))
        // Sent meanwhile after all (the id changed when it moved to Sent Items): delivered once.
        #expect(notYet.requestFailed(failure(.transient, status: 404)) == .finish(.delivered(requestID: nil, earlier: true)))
    }

    @Test("after a crash: a 'building' draft is deleted and the message built again; a 'creating' one is looked for by Message-ID")
    func restart() {
        var building = machine()
        #expect(building.start(saved: saved(.building, "D0")) == .delete(draftID: "D0"))
        #expect(recorded(building.deleted()) == "creating -")
        #expect(building.checkpointed() == .create)

        var creating = machine()
        #expect(creating.start(saved: saved(.creating, nil)) == .findOrphans)
        #expect(creating.orphansFound(["A", "B"]) == .delete(draftID: "A"))
        #expect(creating.deleted() == .delete(draftID: "B"))
        #expect(creating.deleted() == .create)

        var none = machine()
        _ = none.start(saved: saved(.creating, nil))
        #expect(none.orphansFound([]) == .create)
    }

    @Test("a permanent failure deletes the draft and clears the record before giving up; if the delete fails it is not given up yet")
    func permanent() {
        var machine = machine()
        _ = machine.start(saved: nil)
        _ = machine.checkpointed()
        _ = machine.created("D1")
        _ = machine.checkpointed()
        let refused = failure(.tooLarge, status: 413)
        #expect(machine.requestFailed(refused) == .delete(draftID: "D1"))
        #expect(recorded(machine.deleted()) == "none")
        #expect(machine.checkpointed() == .finish(.failed(refused)))

        var stuck = self.machine()
        _ = stuck.start(saved: nil)
        _ = stuck.checkpointed()
        _ = stuck.created("D1")
        _ = stuck.checkpointed()
        _ = stuck.attached()
        _ = stuck.attached()
        _ = stuck.checkpointed()
        let invalid = failure(.invalidRecipients, status: 400)
        #expect(stuck.requestFailed(invalid) == .delete(draftID: "D1"))
        guard case .finish(.failed(let deferred)) = stuck.requestFailed(failure(.transient, status: 503)) else {
            Issue.record("the failed delete did not finish the attempt")
            return
        }
        #expect(!deferred.isPermanent && deferred.message.contains("cannot delete the draft before giving up"))
    }

    @Test("an attachment refused on a MIME draft: the draft is deleted and the message is built as JSON (unless fallback is off)")
    func fallback() {
        var machine = machine()
        _ = machine.start(saved: nil)
        _ = machine.checkpointed()
        _ = machine.created("D1")
        _ = machine.checkpointed()
        #expect(machine.requestFailed(failure(.invalidContent, status: 400)) == .delete(draftID: "D1"))
        #expect(recorded(machine.deleted()) == "none")
        #expect(machine.checkpointed() == .finish(.retryAsJSON))

        var strict = self.machine(fallback: false)
        _ = strict.start(saved: nil)
        _ = strict.checkpointed()
        _ = strict.created("D1")
        _ = strict.checkpointed()
        let refused = failure(.invalidContent, status: 400)
        #expect(strict.requestFailed(refused) == .delete(draftID: "D1"))
        _ = strict.deleted()
        #expect(strict.checkpointed() == .finish(.failed(refused)))
        // Throttling and missing permissions are never taken for a refusal of MIME drafts.
        #expect(!Machine.isRefusal(failure(.throttled, status: 429)))
        #expect(!Machine.isRefusal(failure(.denied, status: 403)))
        #expect(!Machine.isRefusal(failure(.tooLarge, status: 400)))
    }

    @Test("a draft this attempt made is deleted when its record cannot be written (the message was deleted by queue tooling)")
    func checkpointFails() {
        var machine = machine()
        _ = machine.start(saved: nil)
        _ = machine.checkpointed()
        _ = machine.created("D1")
        let local = failure(.localError)
        #expect(machine.checkpointFailed(local) == .delete(draftID: "D1"))
        #expect(machine.deleted() == .finish(.failed(local)))

        var early = self.machine()
        _ = early.start(saved: nil)
        #expect(early.checkpointFailed(local) == .finish(.failed(local)))
    }

    @Test("a failed create: an ambiguous one keeps 'creating' for the next attempt to look for; a definite one clears it")
    func createFails() {
        var lost = machine()
        _ = lost.start(saved: nil)
        _ = lost.checkpointed()
        let ambiguous = failure(.transient, ambiguous: true)
        #expect(lost.requestFailed(ambiguous) == .finish(.failed(ambiguous)))

        var refused = machine()
        _ = refused.start(saved: nil)
        _ = refused.checkpointed()
        let denied = failure(.denied, status: 403)
        #expect(recorded(refused.requestFailed(denied)) == "none")
        #expect(refused.checkpointed() == .finish(.failed(denied)))
    }
}
