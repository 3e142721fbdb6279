"""``python -m deadzone``."""

from deadzone.cli.main import main

main()
