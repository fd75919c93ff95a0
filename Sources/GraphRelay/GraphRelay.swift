// The relay: configuration, access policy, routing and delivery.
