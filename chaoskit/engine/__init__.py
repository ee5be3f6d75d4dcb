"""The engine: runs one experiment through its phases, fires faults, collects records and events, and
returns the run's record (``RunRecord``) for saving and rendering."""
