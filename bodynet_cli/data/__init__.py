"""Synthetic SURREAL-style data generation and torch datasets."""
