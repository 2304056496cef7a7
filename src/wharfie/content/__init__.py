"""Content-addressable blob store laid out as an OCI image layout."""
