"""Findings + who is asking + which model -> what happens to the request (pure)."""
