"""The model cache: trained models keyed by their full recipe (store), entries proven to be the
cache's (entries), and the submitit jobs that train what a grid lacks (jobs)."""
