"""Choosing a deployment for each request: strategies, health, retries."""
