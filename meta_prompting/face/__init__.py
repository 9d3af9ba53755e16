"""The faces people use: the flags, the wizard, and what both show."""
