"""deadzone.cli."""
