"""The sha256 of the shipped classifier weights (written by bench/guards/train_classifier.py)."""

SHA256 = "bd22d7af7432178083c05da23422a2d6f566f882ac0857e5d4da254349df4f1f"
