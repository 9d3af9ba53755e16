"""The seam to the model service: the client, its keys, its rate limits."""
