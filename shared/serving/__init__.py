"""Serving the champion: promotion, scoring, the scored months and their summary, the serving state, monitoring."""
