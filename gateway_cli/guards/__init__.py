"""Inspection: pure functions from text to findings (secrets, PII, injection, output)."""
