"""The local image store: names and tags -> manifests, on top of the content store."""
