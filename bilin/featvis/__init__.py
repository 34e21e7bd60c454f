"""Feature visualisation by input optimisation (SPEC section 7), split as torch-lucent is:
param (what is optimised), colour (decorrelation), transform (robustness), objectives (targets
and penalties), render (the optimisation loop), ladder (tricks added one at a time)."""
