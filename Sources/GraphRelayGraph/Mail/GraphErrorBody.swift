import Foundation
import NIOCore

/// Graph's error body: `{"error":{"code":"…","message":"…","innerError":{"request-id":"…",…}}}`.
struct GraphErrorBody: Sendable, Hashable {
    var code: String?
    var message: String?
    var requestID: String?
    var clientRequestID: String?

    /// Parses the body; anything unparseable yields empty fields.
    init(_ body: ByteBuffer) {
        guard body.readableBytes > 0,
              let json = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any],
              let error = json["error"] as? [String: Any] else {
            return
        }
        code = error["code"] as? String
        message = error["message"] as? String
        let inner = (error["innerError"] as? [String: Any]) ?? (error["innererror"] as? [String: Any])
        requestID = inner?["request-id"] as? String
        clientRequestID = inner?["client-request-id"] as? String
    }

    init(code: String?, message: String?) {
        self.code = code
        self.message = message
    }
}
