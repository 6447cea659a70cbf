"""The `factview` command line (entry point: app.cli.main:main)."""
