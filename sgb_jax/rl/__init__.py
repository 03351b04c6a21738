"""SGB reinforcement learning on Brax: the SGB-PPO trainer, its networks and the vanilla baseline.

Modules: `config` (defaults and validation), `networks` (actor/critic genomes, `load_policy`,
`policy_action`), `ppo` (trainer, `train_and_evaluate`), `baseline` (Brax's own `ppo.train`).
"""
