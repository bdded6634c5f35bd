"""The sha256 of the shipped classifier weights (written by bench/guards/train_classifier.py)."""

SHA256 = "c3154d6eec9f80143c6d814ad9196da6e204a7ca2b8a4081bf4e6582aa5d4e81"
