"""Host filesystem helpers: how wharfie, running as root, touches paths a user names."""
