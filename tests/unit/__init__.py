"""Unit tests: one module or rule of the core (or one repository check) at a time, in seconds."""
