"""Sources and destinations of images: the local store, registries, OCI layouts, archives."""
