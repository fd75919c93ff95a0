/// One message for a real SMTP client: envelope and the exact bytes of the message.
struct EndToEndMessage: Sendable {
    var from: String
    var to: [String]
    var data: [UInt8]
    /// `MAIL FROM` parameters for smtplib, e.g. `["BODY=8BITMIME"]`.
    var mailOptions: [String] = []
    /// smtplib: send this message over a new connection.
    var newConnection = false

    init(from: String, to: [String], data: [UInt8], mailOptions: [String] = [], newConnection: Bool = false) {
        self.from = from
        self.to = to
        self.data = data
        self.mailOptions = mailOptions
        self.newConnection = newConnection
    }

    init(from: String, to: [String], text: String, mailOptions: [String] = [], newConnection: Bool = false) {
        self.init(from: from, to: to, data: Array(text.utf8), mailOptions: mailOptions, newConnection: newConnection)
    }
}
