"""The command line (typer): the only layer that prints, formats for humans or exits."""
