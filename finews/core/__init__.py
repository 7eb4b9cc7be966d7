"""The shared base every feature package may import: nothing here imports a feature."""
