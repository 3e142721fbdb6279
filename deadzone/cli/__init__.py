"""The ``deadzone`` command line (click); one module per subcommand."""
