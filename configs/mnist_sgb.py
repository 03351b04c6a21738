"""SGB on MNIST: 784-800-10 MLP, input 30 spatial-tile types, hidden 50 types, output 10 (paper §4.4.1).

Variants: `configs/mnist_sgb.py` (= `:cpu`, the `make run` default, minutes on 2 CPU cores),
`:paper` (longer training), `:test` (seconds; used by the test suite).
"""

import ml_collections
from ml_collections import config_dict


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.dataset = "mnist"
    # Offline raw-data folder; None -> env SGB_RAW_DATA, else tfds downloads as usual.
    c.raw_dir = config_dict.placeholder(str)
    c.data_dir = config_dict.placeholder(str)

    c.model = ml_collections.ConfigDict()
    c.model.kind = "mlp"
    c.model.hidden_sizes = (800,)
    c.model.input_types = 30
    c.model.input_strategy = "tiles"
    c.model.hidden_types = 50
    c.model.output_types = 10
    c.model.activation = "relu"
    c.model.mu_init = "normal"
    c.model.mu_init_scale = 1.0
    c.model.sigma_init = 0.1

    c.prior = ml_collections.ConfigDict()
    c.prior.kind = "scale_mixture"
    c.prior.pi = 0.25
    c.prior.sigma1 = 1.0
    c.prior.sigma2 = 0.0025
    c.prior.sigma = 1.0

    c.kl = ml_collections.ConfigDict()
    c.kl.scope = "type_pair"
    c.kl.weight = config_dict.placeholder(float)  # None -> 1 / N_train (ELBO per datum)
    c.kl.num_samples = 1

    c.train = ml_collections.ConfigDict()
    c.train.epochs = 15
    c.train.batch_size = 128
    c.train.learning_rate = 3e-3
    c.train.lr_schedule = "cosine"
    c.train.num_samples = 1
    c.train.checkpoint_every = 1000
    c.train.log_every = 200
    c.train.max_train_examples = config_dict.placeholder(int)  # subsample for quick runs

    c.eval = ml_collections.ConfigDict()
    c.eval.num_individuals = 50
    c.eval.chunk = 10

    if variant == "paper":
        c.train.epochs = 50
        c.eval.num_individuals = 100
    elif variant == "test":
        c.train.epochs = 1
        c.train.max_train_examples = 6000
        c.train.log_every = 10
        c.train.checkpoint_every = 20
        c.eval.num_individuals = 5
        c.eval.chunk = 5
    elif variant != "cpu":
        raise ValueError(f"unknown variant {variant!r}; choose cpu, paper or test")
    return c
