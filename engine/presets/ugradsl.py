"""UGradSL presets (seed 002, "UGradSL: machine unlearning using gradient-based smoothed label").

Main settings: class-wise forgetting (a random class, Table 1: CIFAR-10 / ResNet-18), random forgetting
of 10 % across all classes (Table 8 for CIFAR-10, Table 2 for CIFAR-100) and group forgetting of one
sub-class inside a CIFAR-100 super-class (Table 3); baselines Retrain, FT, GA, IU, FF, BU; metrics UA,
MIA (Jia et al.), RA, TA, entropy H, RTE. The CPU presets shrink the model to the 2-conv CNN on digits
(group forgetting needs a dataset with super-classes: CIFAR-100 only) and run the methods' digits defaults;
the full-size presets run the official values where there are any (``PAPER_DEFAULTS``; UGradSL's own lr, epochs
and batch there are the paper's GA / FT baseline values, marked as assumptions in the method modules, and its
alpha and p are not reported, so they keep the digits values).
"""

from engine.presets.base import DIGITS_DEFAULTS, PaperRef, Preset, paper_hparams, register

METHODS = ("original", "retrain", "finetune", "gradient_ascent", "influence", "fisher", "boundary_shrink", "ugradsl",
           "ugradsl_plus")
DIGITS = ("paper: CIFAR-10 (32x32 colour, 50 000 training images), ResNet-18; here: digits (8x8, 1 437 training "
          "images) with the 2-conv CNN, default digits training config, 3 seeds; " + DIGITS_DEFAULTS +
          " (UGradSL / UGradSL+: alpha, p, lr and epochs tuned on digits, the paper reports none)")
DIGITS_TITLE = "digits / CNN, digits defaults"
FULL_HPARAMS = ("hyper-parameters: each method's official values where its code or paper gives them (PAPER_DEFAULTS: "
                "UGradSL / UGradSL+ batch 256, 10 epochs, lr 1e-4 / 1e-2 = the paper's GA / FT baselines (assumed); "
                "Boundary, Fisher{iu} the official values); the fields nobody reports (UGradSL's alpha and p, "
                "{noiu}Finetune, GA) keep the engine's defaults")

register(Preset(
    key="ugradsl_class", paper="ugradsl", title=f"UGradSL Table 1: class-wise forgetting (class 3), {DIGITS_TITLE}",
    dataset="digits", model="cnn", scenario="class", scenario_params=(("forget_class", 3),), methods=METHODS, seeds=3,
    tables=(PaperRef("Table 1", "cifar10", "resnet18"),), differences=DIGITS + "; the paper forgets a random class",
))
register(Preset(
    key="ugradsl_random", paper="ugradsl", title=f"UGradSL Table 8: random 10 % across all classes, {DIGITS_TITLE}",
    dataset="digits", model="cnn", scenario="random",
    scenario_params=(("fraction", 0.1), ("classes", ""), ("stratified", True)),  # Sec. 5.3: from every class
    methods=METHODS, seeds=3, tables=(PaperRef("Table 8", "cifar10", "resnet18", None, ("0.1",)),),
    differences=DIGITS,
))
register(Preset(
    key="ugradsl_cifar10", paper="ugradsl", title="UGradSL Table 1: class-wise forgetting, CIFAR-10 / ResNet-18",
    dataset="cifar10", model="resnet18", scenario="class", scenario_params=(("forget_class", 3),), methods=METHODS,
    hparams=paper_hparams(METHODS, "cifar10", "class"), seeds=5, gpu_recommended=True,
    tables=(PaperRef("Table 1", "cifar10", "resnet18"),),
    differences="the paper's dataset and model (it forgets a random class; here class 3); our default training "
                "config; " + FULL_HPARAMS.format(iu=", IU's WoodFisher damping", noiu="IU's alpha, "),
))
register(Preset(
    key="ugradsl_subclass", paper="ugradsl",
    title="UGradSL Table 3: group forgetting (one sub-class of a super-class), CIFAR-100 / ResNet-18",
    dataset="cifar100", model="resnet18", scenario="subclass", scenario_params=(("forget_group", 0),),
    methods=METHODS, hparams=paper_hparams(METHODS, "cifar100", "subclass"), seeds=5, gpu_recommended=True,
    tables=(PaperRef("Table 3", "cifar100", "resnet18"),),
    differences="the paper's dataset (20 super-classes) and model; the paper does not name the sub-class (here "
                "fine class 0); our default training config; "
                + FULL_HPARAMS.format(iu="", noiu="IU (official values for CIFAR-10 only), "),
))
