"""Pictures without models: safe decoding of user files, and drawing /box results."""
