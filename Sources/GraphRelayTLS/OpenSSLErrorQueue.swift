import COpenSSL

/// OpenSSL's thread-local error queue.
enum OpenSSLErrorQueue {
    /// Removes every queued error and returns them oldest first in readable form
    /// (`certificate verify failed`, `wrong version number`, …), with the library's detail where it
    /// adds something (`unable to load file: No such file or directory`).
    static func drain() -> [String] {
        var reasons: [String] = []
        while true {
            var file: UnsafePointer<CChar>?
            var line: Int32 = 0
            var data: UnsafePointer<CChar>?
            var flags: Int32 = 0
            let code = ERR_get_error_all(&file, &line, nil, &data, &flags)
            if code == 0 { break }
            var reason: String
            if let text = ERR_reason_error_string(code) {
                reason = String(cString: text)
            } else {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            if let data, (flags & ERR_TXT_STRING) != 0 {
                let detail = String(cString: data)
                if !detail.isEmpty { reason += " (\(detail))" }
            }
            if reasons.last != reason { reasons.append(reason) }
        }
        return reasons
    }

    /// Empties the queue, so errors of an earlier call are not blamed on the next.
    static func clear() {
        ERR_clear_error()
    }
}
