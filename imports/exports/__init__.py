"""Exports of contacts (CSV, XLSX, JSON, JSON Lines): columns, sources, writers, the job and its
pages, API and tasks. See services.py for the entry points."""
