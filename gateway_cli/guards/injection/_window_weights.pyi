"""Types of the compiled window scorer (`_window_weights.c`); see that file for why it exists."""

class Table:
    def __init__(self, words: list[bytes], unigram_weights: list[float],
                 bigrams: list[tuple[int, int, float]], stems: list[tuple[bytes, float]],
                 markers: tuple[bytes, ...], marker_weights: list[float | None], seed: int,
                 /) -> None: ...
    def weigh(self, data: bytes, /) -> tuple[list[float], int, list[bytes]]:
        """(weights of the window's features found in the model, number of features,
        distinct long non-ASCII words for `features.char_bigrams`)."""
