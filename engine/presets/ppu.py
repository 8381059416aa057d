"""PPU presets (seed 004, "Pseudo-Probability Unlearning: towards efficient and privacy-preserving ...").

Settings: selective unlearning of 100 samples of class 5 with All-CNN on CIFAR-10 / Lacuna-10 for bias
removal (Table 2) and privacy protection (Table 3), and class unlearning of class 5 where PPU is
plugged in after SCRUB (Table 8; our ``ppu_after`` with ``base=scrub``); baselines Finetune, Fisher,
NegGrad+, CF-k, EU-k, Bad-T, SCRUB; MIA = loss-based attacker forget vs test (ideal 50 %).
The CPU presets run digits with the 2-conv CNN.
"""

from engine.presets.base import PaperRef, Preset, register

BASELINES = ("original", "retrain", "finetune", "fisher", "neggrad_plus", "cf_k", "eu_k", "bad_teacher", "scrub")
DIGITS = ("paper: CIFAR-10 (32x32 colour, 50 000 training images), All-CNN; here: digits (8x8, 1 437 training "
          "images) with the 2-conv CNN, default digits training config")

register(Preset(
    key="ppu_selective", paper="ppu", title="PPU Table 2: 25 samples of class 5 (bias removal), digits / CNN",
    dataset="digits", model="cnn", scenario="selective", scenario_params=(("forget_class", 5), ("count", 25)),
    methods=(*BASELINES, "ppu"), seeds=3,
    tables=(PaperRef("Table 2", "cifar10", "allcnn", None, ("100",)),),
    differences=DIGITS + "; 25 of ~144 samples of class 5 (the paper: 100 of 5 000)",
))
register(Preset(
    key="ppu_class", paper="ppu", title="PPU Table 8: class 5, PPU after SCRUB, digits / CNN",
    dataset="digits", model="cnn", scenario="class", scenario_params=(("forget_class", 5),),
    methods=(*BASELINES, "ppu_after"), hparams=(("ppu_after", (("base", "scrub"),)),), seeds=3,
    tables=(PaperRef("Table 8", "cifar10", "allcnn"),), differences=DIGITS,
))
register(Preset(
    key="ppu_cifar10", paper="ppu", title="PPU Table 2: 100 samples of class 5, CIFAR-10 / All-CNN",
    dataset="cifar10", model="allcnn", scenario="selective", scenario_params=(("forget_class", 5), ("count", 100)),
    methods=(*BASELINES, "ppu"), seeds=5, gpu_recommended=True,
    tables=(PaperRef("Table 2", "cifar10", "allcnn", None, ("100",)),),
    differences="the paper's dataset and model; our default CIFAR-10 training config",
))
