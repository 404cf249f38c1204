"""loader's own root: scanned first, with the same rules as a plugin or a project."""
