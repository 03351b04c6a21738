"""DGB on MNIST: 784-800-10 p-net, PNAS g-net sizes (Shuvaev et al., PNAS 2024).

Variants (`--config=configs/dgb_mnist.py:<variant>`): `paper` = PNAS schedule (500 intermittent
iterations of ~1/6 epoch), `cpu` = shorter schedule, `test` = seconds. Append `,gn5` / `,gn20` /
`,gn30` to choose the PNAS g-net (default gn20), e.g. `:paper,gn30`.
"""

import ml_collections
from ml_collections import config_dict

# PNAS g-net hidden sizes: 20 -> hidden -> 1 per weight matrix.
GNET_SIZES = {"gn5": (10, 5), "gn20": (20, 10), "gn30": (30, 10)}


def get_config(arg: str = "cpu") -> ml_collections.ConfigDict:
    parts = arg.split(",") if arg else ["cpu"]
    variant, size = parts[0] or "cpu", (parts[1] if len(parts) > 1 else "gn20")
    if size not in GNET_SIZES:
        raise ValueError(f"unknown g-net size {size!r}; choose one of {sorted(GNET_SIZES)}")
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.dataset = "mnist"
    c.raw_dir = config_dict.placeholder(str)
    c.data_dir = config_dict.placeholder(str)
    c.max_train_examples = config_dict.placeholder(int)

    c.model = ml_collections.ConfigDict()
    c.model.kind = "mlp"
    c.model.hidden_sizes = (800,)
    c.model.conv_features = (32, 64)

    c.dgb = ml_collections.ConfigDict()
    c.dgb.hidden = GNET_SIZES[size]
    c.dgb.bias_hidden = (5,)
    c.dgb.iterations = 500
    c.dgb.pnet_samples = 10000  # ~1/6 epoch of MNIST per iteration
    c.dgb.pnet_batch_size = 100
    c.dgb.pnet_learning_rate = 1e-3
    c.dgb.gnet_steps = 50
    c.dgb.gnet_pairs = 16384  # synapses per g-net step (0 = all)
    c.dgb.gnet_learning_rate = 1e-3
    c.dgb.mix_tau = 20.0
    c.dgb.eval_every = 50

    if variant == "cpu":
        c.dgb.iterations = 60
        c.dgb.pnet_samples = 5000
        c.dgb.eval_every = 20
    elif variant == "test":
        c.max_train_examples = 2000
        c.dgb.iterations = 6
        c.dgb.pnet_samples = 500
        c.dgb.gnet_steps = 20
        c.dgb.eval_every = 3
    elif variant != "paper":
        raise ValueError(f"unknown variant {variant!r}; choose cpu, paper or test")
    return c
