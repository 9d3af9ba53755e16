"""Chains: stages of fresh sessions, their file, their hand-offs and their run."""
