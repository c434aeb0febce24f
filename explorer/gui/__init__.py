"""The Qt presentation layer (PySide6): it only presents and edits core objects."""
