"""The sha256 of the shipped classifier weights (written by bench/guards/train_classifier.py)."""

SHA256 = "1b6c5918beda3cf9c77b0456d54b3f46cea66cea06bf4b5d9f53a730f75f5dd5"
