"""The application shell: CLI, settings, database, data directory and demo."""
