"""Bulk actions over selections of contacts (see services.py)."""
