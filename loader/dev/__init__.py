"""The dev server: reload planning (pure), the watcher, the parent/child channel, the supervisor."""
