"""Plotly figures: each function takes typed results and returns a go.Figure (never writes); style.py
holds the one size and font rule."""
