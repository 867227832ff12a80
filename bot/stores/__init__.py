"""What the bot keeps on disk: SQLite stores (history, journal, quotas, rerun prompts) and the chromadb photo index."""
