/// The MIME tree of a message as ``MIMEScanner`` found it: every entity with its byte ranges,
/// the message's own header fields, and what is wrong with the structure, if anything.
///
/// Only positions and header values are held, never the content, so a 150 MB message costs a
/// few hundred bytes per part.
public struct MIMEStructure: Sendable, Hashable {
    /// The entities in document order; `entities[0]` is the message.
    public var entities: [MIMEEntity]
    /// The message's header fields (the top-level header section), with their positions.
    public var headerFields: [MIMEHeaderField]
    /// The message's size in bytes.
    public var size: Int
    /// What is malformed (a multipart without boundary or parts, a missing closing boundary, an
    /// over-long header section, …); empty for a well-formed message.
    public var problems: [String]

    public init(entities: [MIMEEntity], headerFields: [MIMEHeaderField], size: Int, problems: [String]) {
        self.entities = entities
        self.headerFields = headerFields
        self.size = size
        self.problems = problems
    }

    public var root: MIMEEntity { entities[0] }

    /// Whether the structure was read without problems.
    public var isWellFormed: Bool { problems.isEmpty }

    /// The leaf entities (not multiparts), in document order.
    public var leaves: [MIMEEntity] { entities.filter(\.isLeaf) }

    /// The first top-level header field called `name`.
    public func header(_ name: String) -> MIMEHeaderField? {
        headerFields.first { $0.hasName(name) }
    }

    /// Every top-level header field called `name`.
    public func headers(_ name: String) -> [MIMEHeaderField] {
        headerFields.filter { $0.hasName(name) }
    }

    /// Whether `ancestor` encloses `entity` (or is it).
    public func isWithin(_ entity: Int, _ ancestor: Int) -> Bool {
        var current: Int? = entity
        while let index = current {
            if index == ancestor { return true }
            current = entities[index].parent
        }
        return false
    }
}
