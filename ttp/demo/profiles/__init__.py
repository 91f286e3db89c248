"""Connector profiles (TOML) for the demo cohort's CSV exports, copied next to the files they read."""
