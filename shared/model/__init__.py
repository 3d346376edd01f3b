"""The model: features, the booster and its calibration, the baselines and the backtest; training,
tuning, evaluation and the sealed bundle."""
