"""The prediction API: FastAPI app (`app.py`), its request/response models (`schemas.py`), the champion it
serves (`champion.py`) and the Lambda entrypoint (`handler.py`, Mangum behind the ALB)."""
