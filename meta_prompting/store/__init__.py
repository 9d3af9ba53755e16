"""Keeping results on disk: files written whole, and the one step that makes a result once."""
