"""deadzone.data."""
