import Foundation
import NIOCore

/// A draft in an emulated mailbox: created from MIME or from JSON, with the attachments added
/// since. Sending it turns it into a ``GraphEmulatorMessage`` and removes it.
struct GraphEmulatorDraft: Sendable {
    enum Source: Sendable {
        /// The decoded MIME the draft was created from.
        case mime([UInt8])
        /// A JSON `message` resource.
        case json(GraphEmulatorJSONMessage)
    }

    var id: String
    var mailbox: String
    var clientID: String
    var createdAt: Date
    var source: Source
    var attachments: [GraphEmulatorAttachment] = []

    var internetMessageID: String? {
        switch source {
        case .mime(let mime): MIMEHeaderScanner(mime).messageID
        case .json(let message): message.internetMessageID
        }
    }
}

/// What the emulator keeps of a JSON `message` resource.
struct GraphEmulatorJSONMessage: Sendable {
    var subject: String?
    var bodyType: String = "text"
    var body: String = ""
    var from: String?
    var fromName: String?
    var to: [String] = []
    var cc: [String] = []
    var bcc: [String] = []
    var replyTo: [String] = []
    var internetMessageID: String?
    var headers: [(name: String, value: String)] = []
}

/// An attachment upload session: where its `uploadUrl` points.
struct GraphEmulatorUploadSession: Sendable {
    var id: String
    var token: String
    var draftID: String
    var mailbox: String
    var clientID: String
    var attachment: GraphEmulatorAttachment
    var received = ByteBuffer()
    var expiresAt: Date
}
