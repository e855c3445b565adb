"""Pipeline: stage names, the canvas builder and dispatch."""
