"""The web service of ttp: server-rendered pages and the JSON API over the same workflows as the CLI."""
