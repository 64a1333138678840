"""Stand-ins for vendor APIs, run on 127.0.0.1 for tests."""
