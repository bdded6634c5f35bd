"""Types of the compiled span scan (`_runs.c`); see that file for why it exists."""

def spans(text: str, /) -> list[int]:
    """[start, end, ...] of runs.RUN's matches, without their marks."""
