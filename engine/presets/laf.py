"""LAF presets (seed 001, "Label-Agnostic Forgetting: a supervision-free unlearning in deep models").

Tasks: data removal (40 % of each of classes 5-9, Table 1), class removal (class 0, Table 2) and
noisy-label removal (60 % of the labels of classes 0-4 corrupted, those samples forgotten, Table 3),
on DIGITS (= MNIST) and Fashion-MNIST with a CNN and on CIFAR-10 / SVHN with ResNet-18; five seeds.
The baselines (NegGrad, Boundary, SISA, Unrolling, Bad-Teacher, SCRUB) use labels; LAF uses none and
LAF+R a labelled retain sample for its repair. The presets therefore run under the supervised paradigm
(LAF and LAF+R still see no labels: they declare none) and one preset runs LAF under ``label_free``.

tau (the temperature of the representation-alignment loss) is set per task as the official
``hyperparameter.md`` sets it for the CNN: 5 for data removal, 20 for class and noisy-label removal (the
ResNet rows: 20, 20, 5); the other LAF fields of the digits presets are the digits defaults (learning rates
raised for the few forget batches). The full-size preset runs the official ResNet row of its task.
"""

from engine.presets.base import DIGITS_DEFAULTS, PaperRef, Preset, paper_hparams, register

METHODS = ("original", "retrain", "gradient_ascent", "boundary_shrink", "sisa", "unrolling", "bad_teacher", "scrub",
           "laf", "laf_r")
# official hyperparameter.md, CNN (MNIST / Fashion-MNIST) rows: tau per task
CNN_TAU = {"random": 5.0, "class": 20.0, "noisy_labels": 20.0}


def _tau(scenario: str) -> tuple[tuple[str, tuple[tuple[str, float], ...]], ...]:
    return tuple((m, (("tau", CNN_TAU[scenario]),)) for m in ("laf", "laf_r"))


def _digits(scenario: str) -> str:
    return ("paper: MNIST (28x28, 60 000 training images), 5 seeds; here: digits (8x8, 1 437 training images), the "
            "same 2-conv CNN, default digits training config, 3 seeds; " + DIGITS_DEFAULTS +
            f"; LAF / LAF+R tau = {CNN_TAU[scenario]:g}, the official CNN value for this task")


DATA_REMOVAL = (("fraction", 0.4), ("classes", "5,6,7,8,9"))
DIGITS_TITLE = "digits / CNN, digits defaults"

register(Preset(
    key="laf_data_removal", paper="laf", title=f"LAF Table 1: data removal (40 % of classes 5-9), {DIGITS_TITLE}",
    dataset="digits", model="cnn", scenario="random", scenario_params=DATA_REMOVAL, methods=METHODS,
    hparams=_tau("random"), seeds=3, tables=(PaperRef("Table 1", "mnist", "cnn"),), differences=_digits("random"),
))
register(Preset(
    key="laf_class_removal", paper="laf", title=f"LAF Table 2: class removal (class 0), {DIGITS_TITLE}",
    dataset="digits", model="cnn", scenario="class", scenario_params=(("forget_class", 0),), methods=METHODS,
    hparams=_tau("class"), seeds=3, tables=(PaperRef("Table 2", "mnist", "cnn"),), differences=_digits("class"),
))
# Table 3's noise as the official Data.py makes it: 60 % of the samples of each of classes 0-4 get a wrong label
# drawn from range(0, 9) (class 9 is never a target there), before training with cross-entropy
NOISY = (("noise", "class_subset"), ("classes", "0,1,2,3,4"), ("targets", "0,1,2,3,4,5,6,7,8"), ("train_loss", "ce"))
register(Preset(
    key="laf_noisy_removal", paper="laf",
    title=f"LAF Table 3: noisy-label removal (60 % of classes 0-4 relabelled), {DIGITS_TITLE}",
    dataset="digits", model="cnn", paradigm="noisy_label", rate=0.6, paradigm_params=NOISY, scenario="noisy_labels",
    scenario_params=(("fraction", 1.0),), methods=METHODS, hparams=_tau("noisy_labels"), seeds=3,
    tables=(PaperRef("Table 3", "mnist", "cnn"),),
    differences=_digits("noisy_labels") + "; noise as the official code: 60 % of the samples of each of classes "
                                          "0-4 get a wrong label drawn from classes 0-8, the original is trained "
                                          "with CE, the relabelled samples are the forget set",
))
register(Preset(
    key="laf_label_free", paper="laf",
    title=f"LAF Table 1, label-free: data removal without labels, {DIGITS_TITLE}",
    dataset="digits", model="cnn", paradigm="label_free", scenario="random", scenario_params=DATA_REMOVAL,
    methods=("original", "retrain", "bad_teacher", "laf", "laf_r"), hparams=_tau("random"), seeds=3,
    tables=(PaperRef("Table 1", "mnist", "cnn", "label_free"),),
    differences=_digits("random") + "; methods that need labels are not applicable under label_free",
))
register(Preset(
    key="laf_cifar10", paper="laf", title="LAF Table 1: data removal (40 % of classes 5-9), CIFAR-10 / ResNet-18",
    dataset="cifar10", model="resnet18", scenario="random", scenario_params=DATA_REMOVAL, methods=METHODS,
    hparams=paper_hparams(METHODS, "cifar10", "random"), seeds=5, gpu_recommended=True,
    tables=(PaperRef("Table 1", "cifar10", "resnet18"),),
    differences="the paper's dataset and model; our default CIFAR-10 training config (the official ResNet-18 "
                "takes 224-pixel resized, augmented inputs and has a 256-d fc1 embedding); hyper-parameters: "
                "each method's official values (PAPER_DEFAULTS: LAF / LAF+R the ResNet data-removal row, tau 20; "
                "SCRUB, Bad-Teacher and Boundary the official CIFAR-10 settings of their own code); fields no "
                "paper states (LAF+R's repair, NegGrad, Unrolling, SISA) keep the engine's defaults",
))
