"""Beam composites and the pure functions they wrap."""
