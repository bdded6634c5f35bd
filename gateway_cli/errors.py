"""Errors a person is meant to read.

Every failure the CLI can foresee (bad config, port in use, missing secret)
is raised as a `GatewayError` whose message is one line that says what is
wrong and what to do; the CLI prints that line and exits non-zero instead of
showing a traceback. Messages never include secret values.
"""

from __future__ import annotations


class GatewayError(Exception):
    """An expected failure with a message fit for a person."""

    exit_code = 1


class ConfigError(GatewayError):
    """The configuration file is missing, unreadable or invalid."""


class StartupError(GatewayError):
    """The server could not start (port in use, address not available)."""
