"""gateway: a supply-chain-hardened AI gateway.

The version lives here (not read from installed metadata) so that
`gateway --version` needs no import beyond this package; a test keeps it
equal to pyproject.toml.
"""

__version__ = "0.1.0"
