"""Data-survival checks: marker files written into a victim's volumes before a fault, looked for after it."""
