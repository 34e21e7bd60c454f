"""Feature visualisation by input optimisation (docs/science.md section 7), split as torch-lucent is:
settings (the Settings and Tricks records, which `bilin featvis` inherits as its keys), param (what is
optimised: pixels, the Fourier spectrum, or MACO's phase with spectrum's fixed magnitude), colour
(decorrelation), transform (robustness), objectives (targets and penalties), render (the optimisation
loop), ladder (tricks added one at a time), measures and tables (each image's norm and, for a bilinear
MLP, its logit against the best at that norm), outcome (a featvis run's tables, tensors and eigenvector
comparison), preflight (the checks around it); bench and bench_models: featvis-bench's methods and
their scoring."""
