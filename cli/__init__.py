"""The `rag` command line."""
