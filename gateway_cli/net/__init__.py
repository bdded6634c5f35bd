"""Network clients the gateway speaks with upstreams."""
