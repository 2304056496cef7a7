"""The OCI vocabulary: pure data, no I/O."""
