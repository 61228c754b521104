"""inlet matcher: validates, normalises and plans pushes; implements IngestService."""
