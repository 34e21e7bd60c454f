"""Pure analysis functions: tensors in, tensors out. No I/O, no plotting."""
