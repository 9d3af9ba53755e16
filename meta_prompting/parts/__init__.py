"""Parts made by the model: supplied just in time, or the whole library at once."""
