"""Every ``st.session_state`` key the dashboard uses, named in one place."""

from __future__ import annotations

# Compare page: the selection widgets (every key starting with SELECTION_PREFIX)
SELECTION_PREFIX = "sel."
DATASET = "sel.dataset"
PARADIGM = "sel.paradigm"
RATE = "sel.rate"
SCENARIO = "sel.scenario"
MODEL = "sel.model"
METHODS = "sel.methods"
SEEDS = "sel.seeds"
DEVICE = "sel.device"
SHADOW = "sel.shadow_models"  # PGU's shadow-model attack: number of shadow pairs (0 = off)
ULIRA = "sel.ulira_shadows"  # U-LiRA / RMIA: shadow pairs K (0 = off, else 4..64)
FEATURE_AUDIT = "sel.feature_audit"  # the representation audit (CKA per layer, probes, embedding)
LABELLED = "sel.labelled_fraction"  # label_free: labelled share of the training set
DROPPED = "compare.dropped"  # methods the last paradigm change took out of the selection (shown once)

# Compare page: the paper-preset menu (not a "sel." key: choosing one writes the "sel." widgets, then resets)
PRESET = "compare.preset"
PRESET_APPLIED = "compare.preset_applied"  # key of the preset last written into the widgets

# Compare page: everything else
URL_LOADED = "compare.url_loaded"  # the URL's selection was read into the widgets (once per session)
URL_ERRORS = "compare.url_errors"  # messages about URL values that could not be used
ACTIVE_RUN = "compare.active_run"  # comparison key of the run started from this session
SAVED_SELECTION = "compare.saved_selection"  # copy of every "sel." widget value: survives visits to other pages
COMPARE_TAB = "compare.tab"  # Results | Method hyper-parameters (only the open one is drawn)
WORKERS = "compare.workers"  # local executor: worker processes (not part of the selection either)
EXECUTOR = "compare.executor"  # local | ray (not part of the selection: where runs execute, not what they are)
SHOW_IMPORTED = "compare.show_imported"  # also show rows an imported results bundle brought (marked as such)
TUNE = "compare.tune"  # tuning budget: trials per method (0 = no tuning; not part of the selection)
SHOWN_STATE = "compare.shown_state"  # last job-manager state the page rendered (to rerun when it changes)

# results view (scoped per page with ``scoped``)
SHOW_GAPS = "results.show_gaps"
RESULTS_TAB = "results.tab"  # the open tab of the results (Leaderboard, Charts, Per class, Forget set, Audit, ...)
PER_CLASS_SPLIT = "per_class.split"  # the per-class heatmap's split (test, train_forget, train_retain)
TOLERANCE = "results.tolerance"  # the verdict's gap tolerance
AUDIT_ATTACK = "audit.attack"  # the Audit tab's attack whose log-log ROC is drawn (mia_ulira, mia_rmia, ...)
SCORE_COLUMN = "forget.score"  # the Forget set tab's membership score of the per-example heatmap

# History page
HISTORY_PICK = "history.pick"
HISTORY_SIDE_BY_SIDE = "history.side_by_side"


def paradigm_param(paradigm: str, name: str) -> str:
    """Widget key of one paradigm parameter (noise type, train loss, ...)."""
    return f"sel.paradigm_param.{paradigm}.{name}"


def scenario_param(scenario: str, name: str) -> str:
    """Widget key of one scenario parameter."""
    return f"sel.scenario_param.{scenario}.{name}"


def hparam(method: str, name: str) -> str:
    """Widget key of one method hyper-parameter."""
    return f"sel.hparam.{method}.{name}"


def scoped(prefix: str, key: str) -> str:
    """A results-view widget key made unique per page (the same view renders on Compare and History)."""
    return f"{prefix}.{key}"


def epochs(dataset: str, model: str) -> str:
    """Widget key of the training epochs (per dataset x model: each pair has its own default)."""
    return f"sel.epochs.{dataset}.{model}"
