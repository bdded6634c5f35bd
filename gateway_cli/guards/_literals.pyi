"""Types of the compiled literal scan (`_literals.c`); see that file for why it exists."""

class Literals:
    def __init__(self, needles: tuple[str, ...], /) -> None: ...
    def present(self, text: str, /) -> int:
        """Bit i set when needle i occurs in `text`."""
