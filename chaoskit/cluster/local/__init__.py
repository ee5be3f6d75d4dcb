"""cluster/local."""
