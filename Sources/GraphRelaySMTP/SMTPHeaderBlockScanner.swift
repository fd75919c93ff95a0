/// Finds where a message's header section ends.
enum SMTPHeaderBlockScanner {
    /// The length through the empty line ending the header section (`CRLF CRLF`, or `LF LF`), or
    /// nil if the bytes contain no such line.
    static func headerLength<Bytes: Collection>(in bytes: Bytes) -> Int? where Bytes.Element == UInt8 {
        var previousLF = false
        var count = 0
        var sawCR = false
        for byte in bytes {
            count += 1
            if byte == UInt8(ascii: "\n") {
                if previousLF { return count }
                previousLF = true
                sawCR = false
            } else if byte == UInt8(ascii: "\r") && previousLF && !sawCR {
                sawCR = true
            } else {
                previousLF = false
                sawCR = false
            }
        }
        return nil
    }
}
