"""deadzone.geo."""
