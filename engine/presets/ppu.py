"""PPU presets (seed 004, "Pseudo-Probability Unlearning: towards efficient and privacy-preserving ...").

Settings: selective unlearning of 100 samples of class 5 with All-CNN on CIFAR-10 / Lacuna-10 for bias
removal (Table 2) and privacy protection (Table 3, with the loss-attacker MIA of Table 4), and class
unlearning of class 5 where PPU is plugged in after SCRUB (Table 8; our ``ppu_after`` with ``base=scrub``);
baselines Finetune, Fisher, NegGrad+, CF-k, EU-k, Bad-T, SCRUB (and SCRUB+R for privacy); MIA = loss-based
attacker forget vs test (ideal 50 %). The CPU presets run digits with the 2-conv CNN and the methods' digits
defaults; the privacy presets run PPU's privacy mode (Sec. 5.5: checkpoint per epoch, the one whose forget error
is closest to the held-out error of the forget classes; class masses of the original model maintained, so the
refinement of Eq. 1-7 runs) and SCRUB+R. The full-size presets run the official values (``PAPER_DEFAULTS``).
"""

from engine.methods.scrub import MIA_SETTING
from engine.presets.base import DIGITS_DEFAULTS, PaperRef, Preset, paper_hparams, register

BASELINES = ("original", "retrain", "finetune", "fisher", "neggrad_plus", "cf_k", "eu_k", "bad_teacher", "scrub")
# Table 3 (privacy) compares with these (no Fisher), SCRUB as SCRUB+R
PRIVACY_METHODS = ("original", "retrain", "finetune", "neggrad_plus", "cf_k", "eu_k", "bad_teacher", "scrub", "ppu")
DIGITS = ("paper: CIFAR-10 (32x32 colour, 50 000 training images), All-CNN; here: digits (8x8, 1 437 training "
          "images) with the 2-conv CNN, default digits training config, 3 seeds; " + DIGITS_DEFAULTS)
DIGITS_TITLE = "digits / CNN, digits defaults"
PRIVACY_TEXT = ("PPU in privacy mode (checkpoint whose forget error is closest to the held-out error of the forget "
                "classes; the original model's class masses, so the refinement of Eq. 1-7 runs), SCRUB as SCRUB+R "
                "(rewind); the paper's Table 3 prints SCRUB without rewinding as well")
FULL = "the paper's dataset and model; our default CIFAR-10 training config (the paper pretrains on CIFAR-100)"
TABLE4_SELECTIVE = PaperRef("Table 4", "", "allcnn", None, ("100",), scenario="selective")

register(Preset(
    key="ppu_selective", paper="ppu", title=f"PPU Table 2: 25 samples of class 5 (bias removal), {DIGITS_TITLE}",
    dataset="digits", model="cnn", scenario="selective", scenario_params=(("forget_class", 5), ("count", 25)),
    methods=(*BASELINES, "ppu"), seeds=3,
    tables=(PaperRef("Table 2", "cifar10", "allcnn", None, ("100",)),),
    differences=DIGITS + "; 25 of ~144 samples of class 5 (the paper: 100 of 5 000)",
))
register(Preset(
    key="ppu_privacy", paper="ppu",
    title=f"PPU Tables 3-4: 25 samples of class 5 (privacy protection), {DIGITS_TITLE}",
    dataset="digits", model="cnn", scenario="selective", scenario_params=(("forget_class", 5), ("count", 25)),
    methods=PRIVACY_METHODS, hparams=(("scrub", (("rewind", True),)), ("ppu", (("mode", "privacy"),))), seeds=3,
    tables=(PaperRef("Table 3", "cifar10", "allcnn", None, ("100",)), TABLE4_SELECTIVE),
    differences=DIGITS + "; 25 of ~144 samples of class 5 (the paper: 100 of 5 000); " + PRIVACY_TEXT,
))
register(Preset(
    key="ppu_class", paper="ppu", title=f"PPU Table 8: class 5, PPU after SCRUB, {DIGITS_TITLE}",
    dataset="digits", model="cnn", scenario="class", scenario_params=(("forget_class", 5),),
    methods=(*BASELINES, "ppu_after"), hparams=(("ppu_after", (("base", "scrub"),)),), seeds=3,
    tables=(PaperRef("Table 8", "cifar10", "allcnn"),), differences=DIGITS,
))
SELECTIVE_METHODS = (*BASELINES, "ppu")
register(Preset(
    key="ppu_cifar10", paper="ppu", title="PPU Table 2: 100 samples of class 5 (bias removal), CIFAR-10 / All-CNN",
    dataset="cifar10", model="allcnn", scenario="selective", scenario_params=(("forget_class", 5), ("count", 100)),
    methods=SELECTIVE_METHODS, hparams=paper_hparams(SELECTIVE_METHODS, "cifar10", "selective",
                                                     keys={"ppu": "bias_removal"}),
    seeds=5, gpu_recommended=True, tables=(PaperRef("Table 2", "cifar10", "allcnn", None, ("100",)),),
    differences=FULL + "; hyper-parameters: each method's official values (PAPER_DEFAULTS: PPU's bias-removal "
                       "setting; SCRUB its large-scale CIFAR-10 setting, which the paper follows; Fisher, CF-k, EU-k "
                       "and Bad-Teacher SCRUB's runs); fields no paper states (PPU's epochs / lr, Finetune, "
                       "NegGrad+) keep the engine's defaults",
))
register(Preset(
    key="ppu_privacy_cifar10", paper="ppu",
    title="PPU Tables 3-4: 100 samples of class 5 (privacy protection), CIFAR-10 / All-CNN",
    dataset="cifar10", model="allcnn", scenario="selective", scenario_params=(("forget_class", 5), ("count", 100)),
    methods=PRIVACY_METHODS,
    # SCRUB: the MIA experiments' setting of the official code (AdaProb's MIA_experiments.ipynb), with rewinding
    hparams=paper_hparams(PRIVACY_METHODS, "cifar10", "selective", keys={"ppu": "privacy"},
                          overrides={"scrub": {**MIA_SETTING, "rewind": True}}),
    seeds=5, gpu_recommended=True, tables=(PaperRef("Table 3", "cifar10", "allcnn", None, ("100",)), TABLE4_SELECTIVE),
    differences=FULL + "; " + PRIVACY_TEXT + "; hyper-parameters: each method's official values (PAPER_DEFAULTS: "
                       "PPU's privacy setting; CF-k, EU-k and Bad-Teacher SCRUB's runs) except SCRUB+R, which runs "
                       "the official MIA-experiment setting (SGD, gamma 1, alpha 0.5, T 4, 5 epochs, batches "
                       "32 / 16) instead of the large-scale one; fields no paper states keep the engine's defaults",
))
