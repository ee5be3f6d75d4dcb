"""The small HTTP service local pods run for the images the manifests name (``python -m chaoskit.standin``).

Keep this package light to import: pod start latency includes its import time.
"""
