"""Contrast sensitivity of a frozen network by linear probe (docs/science.md section 8): stimuli, the probe,
the staircase and the psychometric fit, each its own module; settings.py holds the settings records the
commands' schemas inherit, weight_csf.py the closed-form CSF from a bilinear MLP's weights, and
frequency_study.py the engine of `bilin frequency`."""
