/// A Microsoft cloud: where tokens come from and where Graph lives. Tokens of one cloud are not
/// accepted by another.
public enum GraphCloud: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Microsoft Entra ID global service.
    case global
    /// US Government L4 (GCC High).
    case usgov
    /// US Government L5 (DoD).
    case usgovDoD = "usgov-dod"
    /// Microsoft Azure operated by 21Vianet (China).
    case china

    /// Accepts the configuration spellings `global`, `usgov`, `usgov-dod`, `china` (case-insensitive,
    /// `_` for `-` tolerated).
    public init?(configurationValue value: String) {
        let normalized = value.lowercased().replacingOccurrences(of: "_", with: "-")
        self.init(rawValue: normalized)
    }

    /// The Entra ID authority, without a trailing slash.
    public var loginEndpoint: String {
        switch self {
        case .global: "https://login.microsoftonline.com"
        case .usgov, .usgovDoD: "https://login.microsoftonline.us"
        case .china: "https://login.chinacloudapi.cn"
        }
    }

    /// The Microsoft Graph root, without a trailing slash.
    public var graphEndpoint: String {
        switch self {
        case .global: "https://graph.microsoft.com"
        case .usgov: "https://graph.microsoft.us"
        case .usgovDoD: "https://dod-graph.microsoft.us"
        case .china: "https://microsoftgraph.chinacloudapi.cn"
        }
    }

    /// The client-credentials scope: `{graph}/.default`.
    public var scope: String { graphEndpoint + "/.default" }

    public var description: String { rawValue }
}
