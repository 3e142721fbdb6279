"""deadzone.kernels."""
