import Glibc
import NIOCore

/// Frames the bytes a client sends: command lines, DATA content (dot-unstuffed, ending only at the
/// real end-of-data) and BDAT chunks (exactly N octets). Pure: no I/O, no timers.
///
/// Bytes are ``feed(_:)``-ed as they arrive; ``next()`` returns the next complete event or `nil`
/// when more input is needed. The session decides what comes next with ``expectData()`` and
/// ``expectChunk(size:last:)``; after the end of data or of a chunk the decoder is back in command
/// mode by itself, so nothing that follows can be taken for message content or vice versa.
///
/// Memory is bounded: a command line is never buffered beyond its limit (the rest of an over-long
/// line is dropped until its LF), and content is handed on as it is scanned.
struct SMTPInboundDecoder {
    enum Mode: Hashable {
        case command
        case data
        case chunk(remaining: Int, last: Bool)
    }

    /// Irregularities of one command line.
    struct LineDefects: OptionSet, Hashable {
        let rawValue: UInt8
        /// The line ended with LF alone.
        static let bareLF = LineDefects(rawValue: 1)
        /// A CR not followed by LF inside the line.
        static let bareCR = LineDefects(rawValue: 2)
        /// A NUL octet inside the line.
        static let nul = LineDefects(rawValue: 4)
    }

    /// Irregularities of a message's content, accumulated from its start.
    struct ContentDefects: OptionSet, Hashable {
        let rawValue: UInt8
        static let bareLF = ContentDefects(rawValue: 1)
        static let bareCR = ContentDefects(rawValue: 2)
        /// A line longer than the text line limit.
        static let longLine = ContentDefects(rawValue: 4)
    }

    enum Event: Hashable {
        /// A command (or AUTH response) line without its line ending.
        case line([UInt8], LineDefects)
        /// A command line over the limit; its bytes were dropped up to and including its LF.
        case lineTooLong
        /// A TLS handshake record (0x16) where a command should start: a TLS client on a plaintext port.
        case tlsRecord
        /// Unstuffed message content (DATA).
        case messageData(ByteBuffer)
        /// The end-of-data line was read; the decoder is back in command mode.
        case messageEnd(ContentDefects)
        /// Content of a BDAT chunk.
        case chunkData(ByteBuffer)
        /// The chunk is complete; the decoder is back in command mode. Defects cover the whole
        /// message so far.
        case chunkEnd(ContentDefects)
    }

    private enum ScanState: Hashable {
        /// At the start of a line: after CRLF (`afterCRLF`) or after a bare LF.
        case lineStart(afterCRLF: Bool)
        /// A "." at the start of a line, held back.
        case dot(afterCRLF: Bool)
        /// "." then CR at the start of a line, held back.
        case dotCR(afterCRLF: Bool)
        case inLine
        /// A CR inside a line, held back until we know whether LF follows.
        case cr
    }

    let lineEndings: SMTPLineEndings
    /// Longest command line in octets, line ending included.
    var maximumLineLength: Int
    /// Longest message line in octets, line ending excluded.
    let maximumTextLineLength: Int

    private(set) var mode: Mode = .command
    private var buffer = ByteBuffer()
    private let allocator = ByteBufferAllocator()

    // Command mode.
    /// A TLS record arrived where a command should start: the session is over, input is ignored.
    private var sawTLSRecord = false
    private var scannedOffset = 0
    private var discardingLongLine = false

    // Content.
    private var scanState: ScanState = .lineStart(afterCRLF: true)
    private var lineLength = 0
    private(set) var contentDefects: ContentDefects = []
    private var pendingEnd = false

    init(lineEndings: SMTPLineEndings, maximumLineLength: Int, maximumTextLineLength: Int) {
        self.lineEndings = lineEndings
        self.maximumLineLength = max(maximumLineLength, 3)
        self.maximumTextLineLength = maximumTextLineLength
    }

    // MARK: Input

    mutating func feed(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0, !sawTLSRecord else { return }
        if buffer.readableBytes == 0 {
            buffer = bytes
        } else {
            if buffer.readerIndex > 65536 { buffer.discardReadBytes() }
            buffer.writeImmutableBuffer(bytes)
        }
    }

    /// Octets received but not yet turned into events.
    var bufferedByteCount: Int { buffer.readableBytes }

    /// Drops everything buffered (pipelined plaintext after STARTTLS). Returns how much was dropped.
    mutating func discardBufferedInput() -> Int {
        let count = buffer.readableBytes
        buffer.moveReaderIndex(forwardBy: count)
        scannedOffset = 0
        discardingLongLine = false
        return count
    }

    // MARK: Mode changes

    /// Starts a new message: content defects and line state are reset.
    mutating func beginMessage() {
        scanState = .lineStart(afterCRLF: true)
        lineLength = 0
        contentDefects = []
    }

    /// The 354 reply was sent: what follows is DATA content.
    mutating func expectData() {
        precondition(mode == .command, "expectData outside command mode")
        mode = .data
        pendingEnd = false
    }

    /// A `BDAT` command line was read: exactly `size` octets of chunk follow it.
    mutating func expectChunk(size: Int, last: Bool) {
        precondition(mode == .command, "expectChunk outside command mode")
        mode = .chunk(remaining: size, last: last)
        pendingEnd = size == 0
    }

    // MARK: Events

    mutating func next() -> Event? {
        switch mode {
        case .command:
            return nextLine()
        case .data:
            return nextData()
        case .chunk(let remaining, let last):
            return nextChunk(remaining: remaining, last: last)
        }
    }

    private mutating func nextLine() -> Event? {
        if discardingLongLine {
            guard let lf = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                return nil
            }
            buffer.moveReaderIndex(to: lf + 1)
            discardingLongLine = false
            return .lineTooLong
        }
        let view = buffer.readableBytesView
        guard let first = view.first else { return nil }
        if scannedOffset == 0, first == 0x16 {
            _ = discardBufferedInput()
            sawTLSRecord = true
            return .tlsRecord
        }
        let searchStart = view.startIndex + scannedOffset
        guard let lf = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count >= maximumLineLength {
                discardingLongLine = true
                buffer.moveReaderIndex(forwardBy: view.count)
                scannedOffset = 0
                return nil
            }
            scannedOffset = view.count
            return nil
        }
        scannedOffset = 0
        var contentEnd = lf
        var defects: LineDefects = []
        if contentEnd > view.startIndex, view[contentEnd - 1] == UInt8(ascii: "\r") {
            contentEnd -= 1
        } else {
            defects.insert(.bareLF)
        }
        let content = view[view.startIndex..<contentEnd]
        buffer.moveReaderIndex(to: lf + 1)
        if content.count + 2 > maximumLineLength {
            return .lineTooLong
        }
        if content.contains(UInt8(ascii: "\r")) { defects.insert(.bareCR) }
        if content.contains(0) { defects.insert(.nul) }
        return .line(Array(content), defects)
    }

    private mutating func nextData() -> Event? {
        if pendingEnd {
            pendingEnd = false
            mode = .command
            return .messageEnd(contentDefects)
        }
        guard buffer.readableBytes > 0 else { return nil }
        var output = allocator.buffer(capacity: buffer.readableBytes)
        let (consumed, ended) = buffer.withUnsafeReadableBytes { bytes in
            scan(bytes, into: &output, dotStuffed: true)
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        if ended {
            if output.readableBytes > 0 {
                pendingEnd = true
                return .messageData(output)
            }
            mode = .command
            return .messageEnd(contentDefects)
        }
        if output.readableBytes > 0 { return .messageData(output) }
        return nil  // everything consumed is held back (a CR or a dot); wait for more
    }

    private mutating func nextChunk(remaining: Int, last: Bool) -> Event? {
        if pendingEnd {
            if last, case .cr = scanState {
                // The message ends with a CR that no LF will follow.
                scanState = .inLine
                contentDefects.insert(.bareCR)
                var output = allocator.buffer(capacity: 1)
                output.writeInteger(UInt8(ascii: "\r"))
                return .chunkData(output)
            }
            pendingEnd = false
            mode = .command
            return .chunkEnd(contentDefects)
        }
        let count = min(remaining, buffer.readableBytes)
        guard count > 0 else { return nil }
        var output = allocator.buffer(capacity: count)
        _ = buffer.withUnsafeReadableBytes { bytes in
            scan(UnsafeRawBufferPointer(rebasing: bytes[0..<count]), into: &output, dotStuffed: false)
        }
        buffer.moveReaderIndex(forwardBy: count)
        let left = remaining - count
        mode = .chunk(remaining: left, last: last)
        if left == 0 { pendingEnd = true }
        if output.readableBytes > 0 { return .chunkData(output) }
        return next()
    }

    // MARK: Content scanning

    /// Scans content bytes, writing what is to be stored into `output`. Returns the number of bytes
    /// consumed and whether the end-of-data line was consumed (DATA only).
    private mutating func scan(_ bytes: UnsafeRawBufferPointer, into output: inout ByteBuffer, dotStuffed: Bool) -> (Int, Bool) {
        let cr = UInt8(ascii: "\r")
        let lf = UInt8(ascii: "\n")
        let dot = UInt8(ascii: ".")
        let convertBareLF = lineEndings != .strict
        var index = 0
        var runStart = 0
        let count = bytes.count
        var nextLF = -1

        func flushRun(_ end: Int, _ output: inout ByteBuffer) {
            if end > runStart {
                output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<end]))
            }
        }

        while index < count {
            let byte = bytes[index]
            switch scanState {
            case .inLine:
                // Most bytes are ordinary line content: take the run up to the next CR or LF
                // with memchr (vectorized in libc) instead of one trip through this switch per byte.
                if byte != cr && byte != lf {
                    let base = bytes.baseAddress!
                    // The next LF (it ends every line, CRLF or bare; remembered, so that text
                    // with bare CRs and no LF is still searched once), then a CR before it.
                    if nextLF < index {
                        nextLF = memchr(base + index, Int32(lf), count - index).map { base.distance(to: UnsafeRawPointer($0)) } ?? count
                    }
                    var end = nextLF
                    if let found = memchr(base + index, Int32(cr), end - index) {
                        end = base.distance(to: UnsafeRawPointer(found))
                    }
                    lineLength += end - index
                    if lineLength > maximumTextLineLength { contentDefects.insert(.longLine) }
                    index = end
                } else if byte == cr {
                    flushRun(index, &output)
                    scanState = .cr
                    index += 1
                    runStart = index
                } else if byte == lf {
                    flushRun(index, &output)
                    contentDefects.insert(.bareLF)
                    if convertBareLF { output.writeStaticString("\r\n") } else { output.writeInteger(lf) }
                    scanState = .lineStart(afterCRLF: false)
                    lineLength = 0
                    index += 1
                    runStart = index
                }
            case .cr:
                if byte == lf {
                    output.writeStaticString("\r\n")
                    scanState = .lineStart(afterCRLF: true)
                    lineLength = 0
                    index += 1
                    runStart = index
                } else {
                    // A bare CR is content; look at this byte again as part of the line.
                    output.writeInteger(cr)
                    contentDefects.insert(.bareCR)
                    lineLength += 1
                    if lineLength > maximumTextLineLength { contentDefects.insert(.longLine) }
                    scanState = .inLine
                    runStart = index
                }
            case .lineStart(let afterCRLF):
                if dotStuffed, byte == dot {
                    scanState = .dot(afterCRLF: afterCRLF)
                    index += 1
                    runStart = index
                } else {
                    scanState = .inLine
                    runStart = index
                }
            case .dot(let afterCRLF):
                if byte == cr {
                    scanState = .dotCR(afterCRLF: afterCRLF)
                    index += 1
                    runStart = index
                } else if byte == lf {
                    // "." ended by a bare LF: the end only on a legacy-lf listener.
                    index += 1
                    if lineEndings == .legacyLF {
                        resetAfterEnd()
                        return (index, true)
                    }
                    contentDefects.insert(.bareLF)
                    output.writeInteger(dot)
                    if convertBareLF { output.writeStaticString("\r\n") } else { output.writeInteger(lf) }
                    scanState = .lineStart(afterCRLF: false)
                    lineLength = 0
                    runStart = index
                } else {
                    // A leading dot followed by more text is dot-stuffing: drop it (RFC 5321 §4.5.2).
                    scanState = .inLine
                    runStart = index
                }
            case .dotCR(let afterCRLF):
                if byte == lf {
                    index += 1
                    if afterCRLF || lineEndings == .legacyLF {
                        resetAfterEnd()
                        return (index, true)
                    }
                    // <LF>.<CR><LF>: a lone dot after a bare LF is content, never the end.
                    output.writeStaticString(".\r\n")
                    scanState = .lineStart(afterCRLF: true)
                    lineLength = 0
                    runStart = index
                } else {
                    // ".<CR>x": the dot was stuffing, the CR is bare content.
                    output.writeInteger(cr)
                    contentDefects.insert(.bareCR)
                    lineLength = 1
                    scanState = .inLine
                    runStart = index
                }
            }
        }
        flushRun(count, &output)
        return (count, false)
    }

    private mutating func resetAfterEnd() {
        scanState = .lineStart(afterCRLF: true)
        lineLength = 0
    }
}
