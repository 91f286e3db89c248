"""Source-format readers: exports become validated canonical records and quarantined rows."""
