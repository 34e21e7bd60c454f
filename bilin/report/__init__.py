"""`bilin report`: every run under some folders as one offline static site, with an eigenvector
explorer for each ungated bilinear model, and the same table as `runs.csv` / `bilin.runs()`."""
