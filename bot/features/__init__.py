"""Per-feature services behind the handlers: photo memory and search, /gen options and drawing, photo chats."""
