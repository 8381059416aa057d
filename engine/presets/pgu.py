"""PGU presets (seed 003, "Learn to Unlearn for Deep Neural Networks ... with Gradient Projection").

Settings: selective unlearning of 500 samples of class 0 (10 % of the class) on CIFAR-10 / All-CNN
(Table 1, against Retrain, EU-k, SCRUB, NTK), incremental unlearning of 1 000 samples per request (100
per class) on CIFAR-10 / SmallVGG (Table 3), and de-poisoning: forgetting 5 000 flipped labels (10 %)
(Table 4: "clean" = trained without them = our retrain, "poisoned" = our original).
The CPU presets keep the proportions on digits with the 2-conv CNN and the methods' digits defaults; the
de-poisoning presets run the paper's de-poisoning mode (Sec. 3.2.1 / 3.2.3, official ``depoisoning.py``):
lambda < 0 (the entropy over the non-label classes is minimised, so a poisoned sample is re-classified
confidently into another class), the trust region (TRGP) on the last layer, eps 0.1 and the val_drop stopping
rule. The full-size presets run the official config of their experiment (``PAPER_DEFAULTS``).
"""

from engine.methods.pgu import PAPER_DEFAULTS as PGU_OFFICIAL
from engine.presets.base import DIGITS_DEFAULTS, PaperRef, Preset, paper_hparams, register

DIGITS = ("paper: CIFAR-10 (32x32 colour, 50 000 training images), {model}, 5 runs; here: digits (8x8, 1 437 "
          "training images) with the 2-conv CNN, default digits training config, 3 seeds; " + DIGITS_DEFAULTS)
DIGITS_TITLE = "digits / CNN, digits defaults"
# the paper's de-poisoning mode (official SmallVGG poison config); the learning-rate schedule, epochs and batch
# stay the digits defaults (a digits forget set has ~5 batches, not CIFAR-10's 40)
_POISON = PGU_OFFICIAL["cifar10"]["noisy_labels"]
DEPOISON_MODE = {name: _POISON[name] for name in ("lam", "eps", "trust_region", "stopping")}
DEPOISON_TEXT = (f"the paper's de-poisoning mode: lambda = {DEPOISON_MODE['lam']:g} (< 0: the entropy over the "
                 f"non-label classes is minimised), TRGP trust region on the last layer, eps "
                 f"{DEPOISON_MODE['eps']:g}, stopping {DEPOISON_MODE['stopping']} (official depoisoning.py)")
# the official poisoning (datasets/poison_cifar.py): Python's random.seed(0) shuffles the classes, consecutive ones
# are mutual partners (7-8, 1-5, 3-4, 2-0, 9-6) and a fixed number of samples per class flips to the partner;
# the poisoned model is trained with cross-entropy
POISON = (("noise", "pair"), ("pairs", "7-8,1-5,3-4,2-0,9-6"), ("train_loss", "ce"))
PAIR_FLIPS = ("poisoning as the official code: labels flip to the partner class of five mutual pairs (7-8, 1-5, 3-4, "
              "2-0, 9-6), the poisoned model trained with CE; each label flips with probability 0.1 (the official "
              "code flips exactly 10 % of every class)")

register(Preset(
    key="pgu_selective", paper="pgu", title=f"PGU Table 1: 10 % of class 0 (15 samples), {DIGITS_TITLE}",
    dataset="digits", model="cnn", scenario="selective", scenario_params=(("forget_class", 0), ("count", 15)),
    methods=("original", "retrain", "eu_k", "scrub", "ntk", "pgu"), seeds=3,
    tables=(PaperRef("Table 1", "cifar10", "allcnn", None, ("500",)),),
    differences=DIGITS.format(model="All-CNN") + "; 15 of ~144 samples of class 0 = the paper's 500 of 5 000",
))
register(Preset(
    key="pgu_incremental", paper="pgu", title=f"PGU Table 3: incremental unlearning, 4 requests of 30, {DIGITS_TITLE}",
    dataset="digits", model="cnn", scenario="incremental",
    scenario_params=(("count", 30), ("steps", 4), ("forget_class", None)),
    methods=("original", "retrain", "pgu"), seeds=3,
    tables=(PaperRef("Table 3", "cifar10", "smallvgg"),),
    differences=DIGITS.format(model="SmallVGG") + "; 30 samples per request = the paper's 2 % of the training set "
                                                  "(1 000 of 50 000); its table reports every request, ours the end",
))
register(Preset(
    key="pgu_depoison", paper="pgu",
    title="PGU Table 4: de-poisoning (10 % flipped labels; lambda < 0, trust region), digits / CNN, digits defaults",
    dataset="digits", model="cnn", paradigm="noisy_label", rate=0.1, paradigm_params=POISON, scenario="noisy_labels",
    scenario_params=(("fraction", 1.0),), methods=("original", "retrain", "pgu"),
    hparams=(("pgu", tuple(DEPOISON_MODE.items())),), seeds=3,
    tables=(PaperRef("Table 4", "cifar10", "smallvgg", None, ("5000",)),),
    differences=DIGITS.format(model="SmallVGG") + "; PGU runs " + DEPOISON_TEXT + "; its learning rates, epochs "
                                                  "and batch are the digits defaults; " + PAIR_FLIPS,
))
PGU_TABLE1 = ("original", "retrain", "eu_k", "scrub", "ntk", "pgu")
register(Preset(
    key="pgu_cifar10", paper="pgu", title="PGU Table 1: 500 samples of class 0, CIFAR-10 / All-CNN",
    dataset="cifar10", model="allcnn", scenario="selective", scenario_params=(("forget_class", 0), ("count", 500)),
    methods=PGU_TABLE1, hparams=paper_hparams(PGU_TABLE1, "cifar10", "selective"), seeds=5, gpu_recommended=True,
    tables=(PaperRef("Table 1", "cifar10", "allcnn", None, ("500",)),),
    differences="the paper's dataset and model; our default CIFAR-10 training config; hyper-parameters: each "
                "method's official values (PAPER_DEFAULTS: PGU the AllCNN config of this experiment, gamma 0.9, "
                "lr 0.1 -> 0.01, val_gap; SCRUB its large-scale CIFAR-10 setting; EU-k SCRUB's); NTK has official "
                "values only for SCRUB's 5-class subsets and keeps the engine's defaults",
))
PGU_TABLE4 = ("original", "retrain", "pgu")
register(Preset(
    key="pgu_depoison_cifar10", paper="pgu",
    title="PGU Table 4: de-poisoning (5 000 flipped labels; lambda < 0, trust region), CIFAR-10 / SmallVGG",
    dataset="cifar10", model="smallvgg", paradigm="noisy_label", rate=0.1, paradigm_params=POISON,
    scenario="noisy_labels",
    scenario_params=(("fraction", 1.0),), methods=PGU_TABLE4,
    hparams=paper_hparams(PGU_TABLE4, "cifar10", "noisy_labels", "noisy_label"), seeds=5, gpu_recommended=True,
    tables=(PaperRef("Table 4", "cifar10", "smallvgg", None, ("5000",)),),
    differences="the paper's dataset, model and poisoning budget (10 % of the labels); our default CIFAR-10 "
                "training config; PGU runs the official SmallVGG de-poisoning config (PAPER_DEFAULTS: "
                + DEPOISON_TEXT + ", gamma 0.95, lr 0.1 -> 0.05, batch 128); " + PAIR_FLIPS,
))
