/// The Microsoft cloud an application is registered in (`applications[].cloud`). It sets the
/// login endpoint, the Graph endpoint and the token scope; tokens of one cloud are not accepted
/// by another.
public enum NationalCloud: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Microsoft's global service.
    case global
    /// US Government GCC High.
    case usgov
    /// US Government DoD.
    case usgovDoD = "usgov-dod"
    /// China, operated by 21Vianet.
    case china

    /// The Entra ID (login) endpoint, without trailing slash.
    public var loginEndpoint: String {
        switch self {
        case .global: "https://login.microsoftonline.com"
        case .usgov, .usgovDoD: "https://login.microsoftonline.us"
        case .china: "https://login.chinacloudapi.cn"
        }
    }

    /// The Microsoft Graph endpoint, without trailing slash.
    public var graphEndpoint: String {
        switch self {
        case .global: "https://graph.microsoft.com"
        case .usgov: "https://graph.microsoft.us"
        case .usgovDoD: "https://dod-graph.microsoft.us"
        case .china: "https://microsoftgraph.chinacloudapi.cn"
        }
    }

    /// The client-credentials scope, `{graph}/.default`. It stays the cloud's even when
    /// `graphEndpoint` is overridden (tests, proxies).
    public var scope: String { "\(graphEndpoint)/.default" }

    public var description: String { rawValue }
}
