"""The MCP gateway: one governed entry point for agents' tool calls.

Same shape as the LLM path: gate -> scope check per tool -> argument guards ->
upstream MCP server (stdio child or Streamable HTTP, its own credential) ->
result guards and size cap -> account.
"""
