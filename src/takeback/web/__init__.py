"""The HTTP service (FastAPI on Uvicorn): thin routes over the domain services."""
