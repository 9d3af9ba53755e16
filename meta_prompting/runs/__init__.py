"""Running a filled toolkit: each sample a fresh session, each answer kept whole."""
