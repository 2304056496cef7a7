"""The registry transport: a distribution-spec client, and registries as sources and destinations."""
