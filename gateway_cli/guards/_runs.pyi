"""Types of the compiled run scans (`_runs.c`); see that file for why they exist."""

def digits(text: str, /) -> list[int]:
    """[start, end, mark, ...] of pii.runs.RUN's matches (mark 0, 1 or 2: RUN.lastindex or 0)."""

def words(text: str, some: int, keep: int, /) -> tuple[bool, list[int]]:
    """Whether `text` has a word of `some`+ characters, and [start, end, ...] of those of
    `keep`+ (words as str.split() has them)."""
