"""The sha256 of the shipped classifier weights (written by bench/guards/train_classifier.py)."""

SHA256 = "dc47aebc373e6180402a42cec6a78ee60449c22ecc3193ee4d57a55a0a2f43bb"
