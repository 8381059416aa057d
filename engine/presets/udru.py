"""UDRU presets (seed 000, Tang et al., "Unlearning From Weakly Supervised Learning").

The paper unlearns 20-100 % of one class under SL, PLL (partial rate 0.2) and NLL (noise rate 0.2)
with an MLP on MNIST, a CNN on Fashion-MNIST and ResNet-50 on CIFAR-10 (Tables 1-3), against Retrain,
Amnesiac ML and K-priors; Table 4 times the methods, Table 5 is a white-box MIA on label 0.
The CPU presets keep the scenario (20 % of class 0), paradigms, model and methods on ``digits`` with the
methods' digits defaults; the full-size preset runs the official CIFAR-10 values (``PAPER_DEFAULTS``).
"""

import math

from engine.presets.base import DIGITS_DEFAULTS, PaperRef, Preset, paper_hparams, register

METHODS = ("original", "retrain", "udru", "amnesiac", "kpriors")
DIGITS = ("paper: MNIST (28x28, 60 000 training images), MLP; here: digits (8x8, 1 437 training images), the same "
          "bias-free MLP 512-256-128, default digits training config, 3 seeds (the paper does not state its number "
          "of runs); " + DIGITS_DEFAULTS + " (UDRU: one digits setting for SL, PLL and NLL, lr 3e-4, 100 steps, "
          "beta 0.1)")
# CIFAR-10: the official dp = 0.5 is divided by the number of forget batches of 128 (see engine.methods.udru);
# PAPER_DEFAULTS' delta 0.0125 is that for a whole class (40 batches); 20 % of class 0 = 1 000 images = 8 batches
CIFAR10_FORGET = 1000
CIFAR10_DELTA = 0.5 / math.ceil(CIFAR10_FORGET / 128)

for paradigm, rate, table, name in (("supervised", None, "Table 1", "SL"), ("partial_label", 0.2, "Table 2", "PLL"),
                                    ("noisy_label", 0.2, "Table 3", "NLL")):
    register(Preset(
        key=f"udru_{name.lower()}", paper="udru",
        title=f"UDRU {table} ({name}): 20 % of class 0, digits / MLP, digits defaults",
        dataset="digits", model="mlp", paradigm=paradigm, rate=rate, scenario="within_class",
        scenario_params=(("forget_class", 0), ("fraction", 0.2)), methods=METHODS, seeds=3,
        tables=(PaperRef(table, "mnist", "mlp", paradigm, ("0.2",)), PaperRef("Table 4", "mnist", "mlp", paradigm),
                PaperRef("Table 5", "mnist", "mlp", paradigm, note_prefix="label 0;")),
        differences=DIGITS,
    ))

register(Preset(
    key="udru_cifar10", paper="udru", title="UDRU Table 1 (SL): 20 % of class 0, CIFAR-10 / ResNet-50",
    dataset="cifar10", model="resnet50", scenario="within_class",
    scenario_params=(("forget_class", 0), ("fraction", 0.2)), methods=METHODS,
    hparams=paper_hparams(METHODS, "cifar10", "within_class", "supervised",
                          overrides={"udru": {"delta": CIFAR10_DELTA}}),
    seeds=5, gpu_recommended=True,
    tables=(PaperRef("Table 1", "cifar10", "resnet50", "supervised", ("0.2",)),
            PaperRef("Table 4", "cifar10", "resnet50", "supervised")),
    differences="the paper's dataset and model; our default CIFAR-10 training config (fewer epochs than the "
                "paper); hyper-parameters: the official CIFAR-10 values (PAPER_DEFAULTS: UDRU lr 2e-5, 256 Adam "
                "steps, beta 1, chunks of 128; K-priors lr 2e-5, 256 epochs, batch 128), UDRU's delta = the "
                f"official dp 0.5 / {math.ceil(CIFAR10_FORGET / 128)} forget batches = {CIFAR10_DELTA:g} for these "
                "1 000 images (PAPER_DEFAULTS' 0.0125 is for a whole class); Amnesiac has no official values and "
                "keeps the engine's defaults",
))
