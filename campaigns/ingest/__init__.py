"""Ingestion of recipient files: reading, phone validation, chunking."""
