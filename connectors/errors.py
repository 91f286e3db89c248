"""The one exception type of the connectors: a bad file or profile, in one line without identifying values."""


class ConnectorError(Exception):
    """An export or profile cannot be read; the message names file, row, field or key and the reason."""
