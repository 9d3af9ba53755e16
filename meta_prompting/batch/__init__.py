"""Gemini's Batch service for the model work a command lacks: submit, exit, come back,
collect, never submitting a request twice."""
