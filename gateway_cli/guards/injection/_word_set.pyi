"""Types of the compiled word set (`_word_set.c`); see that file for why it exists."""

def distinct(data: bytes, table: bytes, /) -> frozenset[bytes]:
    """`frozenset(data.translate(table).split())`, in one pass."""
