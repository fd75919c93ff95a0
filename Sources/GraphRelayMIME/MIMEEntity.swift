/// One entity of a message's MIME tree (RFC 2045/2046): the message itself (index 0), a
/// multipart, or a leaf part, with where its bytes are and what its headers say.
///
/// Offsets are absolute positions in the message. For a body part, ``range`` runs from the first
/// byte of its delimiter line (`--boundary`) to the first byte of the next delimiter line, so
/// cutting it out leaves a well-formed multipart; its ``bodyRange`` excludes the line break
/// before the next delimiter, which belongs to the delimiter (RFC 2046 §5.1.1).
public struct MIMEEntity: Sendable, Hashable {
    /// Position in ``MIMEStructure/entities`` (0: the message).
    public var index: Int
    /// The enclosing multipart; nil for the message.
    public var parent: Int?
    /// 0 for the message, 1 for its parts, …
    public var depth: Int
    /// Delimiter line start (0 for the message) ..< next delimiter line start (the message's end).
    public var range: Range<Int>
    /// Where the header section starts (after the delimiter line).
    public var headerStart: Int
    /// The body: after the empty line that ends the headers, up to the line break before the
    /// next delimiter.
    public var bodyRange: Range<Int>
    /// `Content-Type` (default `text/plain`, or `message/rfc822` inside `multipart/digest`).
    public var contentType: MIMEParameterizedValue
    /// `Content-Disposition`, if present.
    public var disposition: MIMEParameterizedValue?
    /// `Content-Transfer-Encoding` (default 7bit).
    public var transferEncoding: MIMETransferEncoding
    /// `Content-ID` without the angle brackets, if present.
    public var contentID: String?
    /// The parts of a multipart, in order.
    public var children: [Int]
    /// For a multipart: the first byte of its closing delimiter line (`--boundary--`), if it had one.
    public var closeDelimiterStart: Int?
    /// For a leaf: the size of its content once the transfer encoding is undone.
    public var decodedSize: Int?
    /// For a leaf: why its body cannot be decoded (invalid base64), if it cannot.
    public var encodingProblem: String?
    /// Whether the scanner read it as a multipart (a `multipart/*` type with a boundary).
    public var isMultipart: Bool

    public init(index: Int, parent: Int?, depth: Int, start: Int, headerStart: Int) {
        self.index = index
        self.parent = parent
        self.depth = depth
        self.range = start..<start
        self.headerStart = headerStart
        self.bodyRange = headerStart..<headerStart
        self.contentType = MIMEParameterizedValue(value: "text/plain", parameters: ["charset": "us-ascii"])
        self.transferEncoding = .sevenBit
        self.children = []
        self.isMultipart = false
    }

    public var isLeaf: Bool { !isMultipart }

    /// The bytes this entity occupies (delimiter line, headers and body).
    public var size: Int { range.count }

    /// `text/html` → `text`.
    public var mediaType: Substring { contentType.value.split(separator: "/", maxSplits: 1).first ?? "" }

    /// The file name: `Content-Disposition`'s `filename`, else `Content-Type`'s `name`, with any
    /// directory part removed; nil when neither is given.
    public var filename: String? {
        let raw = disposition?[parameter: "filename"] ?? contentType[parameter: "name"]
        guard var name = raw?.trimmingBlanks, !name.isEmpty else { return nil }
        if let slash = name.lastIndex(where: { $0 == "/" || $0 == "\\" }) { name = String(name[name.index(after: slash)...]) }
        return name.isEmpty ? nil : name
    }

    /// An attachment in the reader's sense: `Content-Disposition: attachment`, or a named part
    /// that is not marked inline, or content that is neither text nor referenced by a
    /// `Content-ID` (a PDF without headers saying more is still a file).
    public var isAttachment: Bool {
        switch disposition?.value {
        case "attachment"?: return true
        case "inline"?: return false
        default:
            if filename != nil { return contentID == nil }
            return mediaType != "text" && contentID == nil && !isMultipart
        }
    }

    /// Shown inline by the reader: `Content-Disposition: inline`, or a part with a `Content-ID`
    /// (referenced as `cid:` from an HTML body) that is not marked as an attachment.
    public var isInline: Bool {
        switch disposition?.value {
        case "inline"?: return true
        case "attachment"?: return false
        default: return contentID != nil
        }
    }
}
