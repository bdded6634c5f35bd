"""Provider secrets and gateway credentials."""
