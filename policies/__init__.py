"""Policies, research requests, disclosure control and release artefacts."""
