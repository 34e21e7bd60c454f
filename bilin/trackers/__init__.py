"""Trackers: a run mirrored into TensorBoard or MLflow (`logger=`), the run folder staying the source of truth.

settings (the `logger=` keys, checked before any work), session (what a run logs, and when), records
(a model and a config as trackers take them), tensorboard_log and mlflow_log (one writer each, importing
its library only when chosen).
"""
