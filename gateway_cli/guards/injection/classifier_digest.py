"""The sha256 of the shipped classifier weights (written by bench/guards/train_classifier.py)."""

SHA256 = "adc34c1458a5eb4119a4005510b612561a34d5ee736ad96fe55d62482f03f41a"
