"""The build engine: context, planning, cache and executors behind ``wharfie build``."""
