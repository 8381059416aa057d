"""UGradSL presets (seed 002, "UGradSL: machine unlearning using gradient-based smoothed label").

Main settings: class-wise forgetting (a random class, Table 1: CIFAR-10 / ResNet-18), random forgetting
of 10 % across all classes (Table 8 for CIFAR-10, Table 2 for CIFAR-100) and group forgetting of one
sub-class inside a CIFAR-100 super-class (Table 3); baselines Retrain, FT, GA, IU, FF, BU; metrics UA,
MIA (Jia et al.), RA, TA, entropy H, RTE. The CPU presets shrink the model to the 2-conv CNN on digits
(group forgetting needs a dataset with super-classes: CIFAR-100 only).
"""

from engine.presets.base import PaperRef, Preset, register

METHODS = ("original", "retrain", "finetune", "gradient_ascent", "influence", "fisher", "boundary_shrink", "ugradsl",
           "ugradsl_plus")
DIGITS = ("paper: CIFAR-10 (32x32 colour, 50 000 training images), ResNet-18; here: digits (8x8, 1 437 training "
          "images) with the 2-conv CNN, default digits training config")

register(Preset(
    key="ugradsl_class", paper="ugradsl", title="UGradSL Table 1: class-wise forgetting (class 3), digits / CNN",
    dataset="digits", model="cnn", scenario="class", scenario_params=(("forget_class", 3),), methods=METHODS, seeds=3,
    tables=(PaperRef("Table 1", "cifar10", "resnet18"),), differences=DIGITS + "; the paper forgets a random class",
))
register(Preset(
    key="ugradsl_random", paper="ugradsl", title="UGradSL Table 8: random 10 % across all classes, digits / CNN",
    dataset="digits", model="cnn", scenario="random", scenario_params=(("fraction", 0.1), ("classes", "")),
    methods=METHODS, seeds=3, tables=(PaperRef("Table 8", "cifar10", "resnet18", None, ("0.1",)),),
    differences=DIGITS,
))
register(Preset(
    key="ugradsl_cifar10", paper="ugradsl", title="UGradSL Table 1: class-wise forgetting, CIFAR-10 / ResNet-18",
    dataset="cifar10", model="resnet18", scenario="class", scenario_params=(("forget_class", 3),), methods=METHODS,
    seeds=5, gpu_recommended=True, tables=(PaperRef("Table 1", "cifar10", "resnet18"),),
    differences="the paper's dataset and model (it forgets a random class; here class 3); our default training config",
))
register(Preset(
    key="ugradsl_subclass", paper="ugradsl",
    title="UGradSL Table 3: group forgetting (one sub-class of a super-class), CIFAR-100 / ResNet-18",
    dataset="cifar100", model="resnet18", scenario="subclass", scenario_params=(("forget_group", 0),),
    methods=METHODS, seeds=5, gpu_recommended=True, tables=(PaperRef("Table 3", "cifar100", "resnet18"),),
    differences="the paper's dataset (20 super-classes) and model; the paper does not name the sub-class (here "
                "fine class 0); our default training config",
))
