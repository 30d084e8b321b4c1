"""Alembic migrations of bouncer's schema, run by `bouncer db upgrade` (see migrate.py)."""
