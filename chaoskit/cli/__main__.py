"""`python -m chaoskit.cli` runs the chaoskit command line."""

from chaoskit.cli.app import main

main()
