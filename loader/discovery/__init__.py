"""Finding things: scan rules, roots, plugins (entry points and pluggy)."""
