"""Command-line tools besides running the bot: importing folders of photos and re-indexing."""
