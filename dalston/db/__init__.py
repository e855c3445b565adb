"""Database: models, sessions and small named queries."""
