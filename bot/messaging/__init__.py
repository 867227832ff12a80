"""Talking to Telegram: command parsing and filters, replies, status messages, access, finding and fetching photos."""
