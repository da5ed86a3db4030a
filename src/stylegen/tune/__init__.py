"""Hyper-parameter search for StyleGAN2/3 training with Optuna (Akiba et al. 2019, "Optuna: A
Next-generation Hyperparameter Optimization Framework"): `stylegen tune`.

`space` (no torch, no optuna) names the tunable parameters and their default search ranges
around a preset's values, and reads range files; `study` runs the study, each trial an ordinary
`stylegen train` run on the shared trainer that reports its metric at every snapshot to Optuna's
pruner; `outputs` writes the trials table, the best config and Optuna's plots. Optuna is the
optional extra `stylegen[tune]`.
"""
