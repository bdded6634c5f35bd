"""The gateway's tamper-evident audit log."""
