"""Translation between the OpenAI Chat Completions and Anthropic Messages wire formats.

Pure functions and small state machines over decoded JSON: the gateway uses
them only when a client's format differs from its upstream's. Each module is
named CLIENT-format to UPSTREAM-format.
"""
