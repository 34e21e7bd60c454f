"""Training: the recipe that determines a model, one trainer for any number of models trained together,
its records, buffers, noise, memory budget, cost model and progress."""
