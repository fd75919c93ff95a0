// The relay: configuration, access policy, routing and delivery.

/// The release this build is (`graph-relay --version`, the `graph_relay_build_info` metric).
public enum GraphRelayVersion {
    public static let current = "0.9.1"
}
