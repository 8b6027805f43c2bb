"""tierflow."""
