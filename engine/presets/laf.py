"""LAF presets (seed 001, "Label-Agnostic Forgetting: a supervision-free unlearning in deep models").

Tasks: data removal (40 % of each of classes 5-9, Table 1), class removal (class 0, Table 2) and
noisy-label removal (60 % of the labels of classes 0-4 corrupted, those samples forgotten, Table 3),
on DIGITS (= MNIST) and Fashion-MNIST with a CNN and on CIFAR-10 / SVHN with ResNet-18; five seeds.
The baselines (NegGrad, Boundary, SISA, Unrolling, Bad-Teacher, SCRUB) use labels; LAF uses none and
LAF+R a labelled retain sample for its repair. The presets therefore run under the supervised paradigm
(LAF and LAF+R still see no labels: they declare none) and one preset runs LAF under ``label_free``.
"""

from engine.presets.base import PaperRef, Preset, register

METHODS = ("original", "retrain", "gradient_ascent", "boundary_shrink", "sisa", "unrolling", "bad_teacher", "scrub",
           "laf", "laf_r")
DIGITS = ("paper: MNIST (28x28, 60 000 training images), 5 seeds; here: digits (8x8, 1 437 training images), the "
          "same 2-conv CNN, default digits training config")
DATA_REMOVAL = (("fraction", 0.4), ("classes", "5,6,7,8,9"))

register(Preset(
    key="laf_data_removal", paper="laf", title="LAF Table 1: data removal (40 % of classes 5-9), digits / CNN",
    dataset="digits", model="cnn", scenario="random", scenario_params=DATA_REMOVAL, methods=METHODS, seeds=3,
    tables=(PaperRef("Table 1", "mnist", "cnn"),), differences=DIGITS,
))
register(Preset(
    key="laf_class_removal", paper="laf", title="LAF Table 2: class removal (class 0), digits / CNN",
    dataset="digits", model="cnn", scenario="class", scenario_params=(("forget_class", 0),), methods=METHODS, seeds=3,
    tables=(PaperRef("Table 2", "mnist", "cnn"),), differences=DIGITS,
))
register(Preset(
    key="laf_noisy_removal", paper="laf", title="LAF Table 3: noisy-label removal, digits / CNN",
    dataset="digits", model="cnn", paradigm="noisy_label", rate=0.3, scenario="noisy_labels",
    scenario_params=(("fraction", 1.0),), methods=METHODS, seeds=3,
    tables=(PaperRef("Table 3", "mnist", "cnn"),),
    differences=DIGITS + "; the paper corrupts 60 % of the labels of classes 0-4 (about 30 % of all labels), the "
                         "engine's symmetric noise corrupts 30 % of all labels; trained with the NLL loss (GCE)",
))
register(Preset(
    key="laf_label_free", paper="laf", title="LAF Table 1, label-free: data removal without labels, digits / CNN",
    dataset="digits", model="cnn", paradigm="label_free", scenario="random", scenario_params=DATA_REMOVAL,
    methods=("original", "retrain", "bad_teacher", "laf", "laf_r"), seeds=3,
    tables=(PaperRef("Table 1", "mnist", "cnn", "label_free"),),
    differences=DIGITS + "; methods that need labels are not applicable under label_free",
))
register(Preset(
    key="laf_cifar10", paper="laf", title="LAF Table 1: data removal (40 % of classes 5-9), CIFAR-10 / ResNet-18",
    dataset="cifar10", model="resnet18", scenario="random", scenario_params=DATA_REMOVAL, methods=METHODS, seeds=5,
    gpu_recommended=True, tables=(PaperRef("Table 1", "cifar10", "resnet18"),),
    differences="the paper's dataset and model; our default CIFAR-10 training config",
))
