"""Contrast sensitivity of a frozen network by linear probe (docs/science.md section 8): stimuli, the probe,
the staircase and the psychometric fit, each its own module."""
