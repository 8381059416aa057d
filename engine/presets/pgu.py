"""PGU presets (seed 003, "Learn to Unlearn for Deep Neural Networks ... with Gradient Projection").

Settings: selective unlearning of 500 samples of class 0 (10 % of the class) on CIFAR-10 / All-CNN
(Table 1, against Retrain, EU-k, SCRUB, NTK), incremental unlearning of 1 000 samples per request (100
per class) on CIFAR-10 / SmallVGG (Table 3), and de-poisoning: forgetting 5 000 flipped labels (10 %)
(Table 4: "clean" = trained without them = our retrain, "poisoned" = our original).
The CPU presets keep the proportions on digits with the 2-conv CNN.
"""

from engine.presets.base import PaperRef, Preset, register

DIGITS = ("paper: CIFAR-10 (32x32 colour, 50 000 training images), {model}, 5 runs; here: digits (8x8, 1 437 "
          "training images) with the 2-conv CNN, default digits training config")

register(Preset(
    key="pgu_selective", paper="pgu", title="PGU Table 1: 10 % of class 0 (15 samples), digits / CNN",
    dataset="digits", model="cnn", scenario="selective", scenario_params=(("forget_class", 0), ("count", 15)),
    methods=("original", "retrain", "eu_k", "scrub", "ntk", "pgu"), seeds=3,
    tables=(PaperRef("Table 1", "cifar10", "allcnn", None, ("500",)),),
    differences=DIGITS.format(model="All-CNN") + "; 15 of ~144 samples of class 0 = the paper's 500 of 5 000",
))
register(Preset(
    key="pgu_incremental", paper="pgu", title="PGU Table 3: incremental unlearning, 4 requests of 30, digits / CNN",
    dataset="digits", model="cnn", scenario="incremental",
    scenario_params=(("count", 30), ("steps", 4), ("forget_class", None)),
    methods=("original", "retrain", "pgu"), seeds=3,
    tables=(PaperRef("Table 3", "cifar10", "smallvgg"),),
    differences=DIGITS.format(model="SmallVGG") + "; 30 samples per request = the paper's 2 % of the training set "
                                                  "(1 000 of 50 000); its table reports every request, ours the end",
))
register(Preset(
    key="pgu_depoison", paper="pgu", title="PGU Table 4: de-poisoning (10 % flipped labels), digits / CNN",
    dataset="digits", model="cnn", paradigm="noisy_label", rate=0.1, scenario="noisy_labels",
    scenario_params=(("fraction", 1.0),), methods=("original", "retrain", "pgu"), seeds=3,
    tables=(PaperRef("Table 4", "cifar10", "smallvgg", None, ("5000",)),),
    differences=DIGITS.format(model="SmallVGG") + "; the paper flips labels between class pairs, the engine's noise "
                                                  "is symmetric; trained with the NLL loss (GCE), the paper with CE",
))
register(Preset(
    key="pgu_cifar10", paper="pgu", title="PGU Table 1: 500 samples of class 0, CIFAR-10 / All-CNN",
    dataset="cifar10", model="allcnn", scenario="selective", scenario_params=(("forget_class", 0), ("count", 500)),
    methods=("original", "retrain", "eu_k", "scrub", "ntk", "pgu"), seeds=5, gpu_recommended=True,
    tables=(PaperRef("Table 1", "cifar10", "allcnn", None, ("500",)),),
    differences="the paper's dataset and model; our default CIFAR-10 training config",
))
