"""The Telegram side of the bot: settings, application, queue, progress and media handling."""
