"""The sha256 of the shipped classifier weights (written by bench/guards/train_classifier.py)."""

SHA256 = "9f02821e1c91d531a6e45323ca68710cedcec782a7f5d2df1ecaca1350f89986"
