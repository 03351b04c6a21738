"""Theory checks (paper appendix A): Fig. 6 toys and the Jensen gap of trained MNIST and RL genomes.

Variants: `configs/theory.py` (= `:cpu`, minutes on 2 CPU cores: 784-64-10 genome on 10k MNIST
images), `:paper` (the paper's 784-800-10 MNIST genome, 50 hidden types, full training set; every
Hessian product then runs over 636,010 synapses), `:test` (seconds; smoke runs). The `rl` section
adds an SGB-PPO Ant genome (summary key `ant_rl`; same at every variant except `:test`).
"""

import ml_collections
from ml_collections import config_dict


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0

    # Fig. 6 toys: 1-D losses, plain gradient descent on E[L(mu + sigma eps)].
    c.toys = ml_collections.ConfigDict()
    c.toys.losses = ("convex", "concave", "nonconvex")
    c.toys.mu0 = (1.5, 0.5, 0.2)
    c.toys.sigma0 = (0.5, 0.5, 0.3)
    c.toys.learning_rate = 0.05
    c.toys.num_steps = 100
    c.toys.num_samples = 32  # antithetic pairs per gradient step
    c.toys.quadrature_order = 64  # Gauss-Hermite nodes for the exact gap along the path

    # Real genome: trained through sgb_jax.supervised.train.train_and_evaluate.
    c.real = ml_collections.ConfigDict()
    c.real.genome_workdir = config_dict.placeholder(str)  # reuse a trained run; None -> train one
    c.real.hidden_sizes = (64,)
    c.real.input_types = 30
    c.real.hidden_types = 16
    c.real.output_types = 10
    c.real.activations = ("relu", "tanh")  # relu is the paper's; tanh has a smooth Hessian
    c.real.epochs = 10
    c.real.max_train_examples = 10000
    c.real.eval_examples = 2000  # the loss L(w): mean cross-entropy on this many training images
    c.real.gap_samples = 256  # antithetic pairs for the measured gap
    c.real.hutchinson_probes = 64
    c.real.paired_samples = 32  # draws shared by measured gap and its quadratic model
    c.real.lanczos_steps = 60
    c.real.lanczos_probes = 2
    c.real.sigma_step_eta = 1e-3
    c.real.sigma_step_samples = 64
    c.real.sigma_step_scales = (1.0, 0.25)  # Theorem A.2 check at the trained sigma and below it
    c.real.batch_size = 8  # samples evaluated together inside lax.map (memory vs speed)

    # RL genome (SGB-PPO on Brax Ant), analysed with the `real` settings above. L = Brax's PPO
    # loss without the genome KL on a fixed batch from the mean network (sgb_jax.rl.phenotype_loss).
    c.rl = ml_collections.ConfigDict()
    c.rl.enabled = True
    c.rl.genome_workdir = config_dict.placeholder(str)  # a finished train_ppo.py sgb run; None ->
    # train one into <out>/ant_rl_genome with configs/ppo_ant.py:<train_variant> and these fields
    # (the defaults are those of results/ppo_ant_sgb_w32: ~4 min on 2 CPU cores).
    c.rl.train_variant = "cpu"
    c.rl.hidden_width = 32
    c.rl.depth = 2
    c.rl.hidden_types = 16
    c.rl.num_timesteps = 400_000
    c.rl.num_envs = 128
    c.rl.batch_size = 128
    c.rl.num_minibatches = 8
    c.rl.batch_envs = 128  # the fixed batch: environments run by the mean network,
    c.rl.warmup_steps = 200  # steps discarded first (leave the reset states),
    c.rl.segments_per_env = 10  # then this many unroll rows (ppo.unroll_length steps) per env
    c.rl.return_individuals = 16  # sanity: zero-shot return, population vs mean network (0: skip)
    c.rl.return_episodes = 2

    if variant == "paper":
        c.real.hidden_sizes = (800,)
        c.real.hidden_types = 50
        c.real.max_train_examples = config_dict.placeholder(int)
        c.real.eval_examples = 10000
        c.real.gap_samples = 1000
        c.real.hutchinson_probes = 256
        c.real.lanczos_steps = 100
        c.real.lanczos_probes = 4
    elif variant == "test":
        c.toys.num_steps = 10
        c.real.hidden_sizes = (16,)
        c.real.hidden_types = 4
        c.real.epochs = 1
        c.real.activations = ("relu",)
        c.real.max_train_examples = 1000
        c.real.eval_examples = 200
        c.real.gap_samples = 16
        c.real.hutchinson_probes = 8
        c.real.paired_samples = 8
        c.real.lanczos_steps = 10
        c.real.lanczos_probes = 1
        c.real.sigma_step_samples = 8
        c.rl.train_variant = "test"
        c.rl.hidden_width, c.rl.depth, c.rl.hidden_types = 8, 1, 4
        c.rl.num_timesteps, c.rl.num_envs, c.rl.batch_size, c.rl.num_minibatches = 640, 16, 16, 4
        c.rl.batch_envs, c.rl.warmup_steps, c.rl.segments_per_env = 8, 10, 2
        c.rl.return_individuals, c.rl.return_episodes = 2, 1
    elif variant != "cpu":
        raise ValueError(f"unknown variant {variant!r}; choose cpu, paper or test")
    return c
