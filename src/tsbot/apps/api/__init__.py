"""HTTP API: FastAPI routers that call tsbot's services."""
