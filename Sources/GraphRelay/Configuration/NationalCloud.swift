import GraphRelayGraph

/// `applications[].cloud`: `global`, `usgov`, `usgov-dod` or `china` — the Graph client's cloud
/// table (login endpoint, Graph endpoint, scope `{graph}/.default`), one definition for both.
public typealias NationalCloud = GraphCloud
