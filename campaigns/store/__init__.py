"""Storage: SQLAlchemy models, engine construction, migrations and the unit of work."""
