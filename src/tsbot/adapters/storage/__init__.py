"""SQLAlchemy 2 storage: tables, Alembic migrations and repositories implementing the domain stores."""
