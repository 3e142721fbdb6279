"""deadzone.maps."""
