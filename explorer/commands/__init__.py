"""CLI subcommand families; each module exposes `register(subparsers)`."""
