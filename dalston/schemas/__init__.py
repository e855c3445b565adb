"""marshmallow schemas for requests and responses, apart from the database models."""
