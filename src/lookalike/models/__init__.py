"""Encoders, heads, distances and self-describing model folders."""
