"""Integration tests: the local pipeline, the CLI, the API, scoring and the dashboard on small generated data and
real stores (local, moto's S3)."""
