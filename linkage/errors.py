"""The link job's own error type: one line naming what is wrong (column, setting, review), never a value."""


class LinkError(ValueError):
    """A link job cannot run on what it was given."""
