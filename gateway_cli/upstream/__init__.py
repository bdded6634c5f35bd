"""HTTP to providers: pooled, bounded, with timeouts."""
