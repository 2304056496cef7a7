"""The registry server: distribution-spec routes over a storage driver, with access control,
garbage collection and retention."""
