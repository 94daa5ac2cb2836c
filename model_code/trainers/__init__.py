"""Trainers beside the numpy softmax regression in model_code/train.py.

- `gbt.py`: gradient-boosted trees with XGBoost (`trainer=gbt`), boosting-round checkpoints
  (`gbt_checkpoints.py`) and an ONNX export for serving (`onnx_export.py`).
- `hosts.py`: refuses a multi-instance training job, which no trainer here can use.
"""
