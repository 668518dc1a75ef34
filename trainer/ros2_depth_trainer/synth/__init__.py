"""Procedural RGB-D scenes with exact depth, surface normals and labels (the generated data)."""
