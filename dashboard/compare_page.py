"""Compare page: pick a setting and methods, run (in the background), watch progress, explore results."""

from __future__ import annotations

import streamlit as st

from dashboard import data, forms, history_links, progress_view, results_view, state, url
from dashboard.data import SpecError

ULIRA_LABEL = "U-LiRA / RMIA shadow pairs (K)"
AUDIT_LABEL = "Representation audit (CKA, probes, embedding)"


@st.cache_resource(show_spinner=False)
def job_manager(cache_dir: str) -> data.JobManager:
    """One job manager per cache directory, shared by every session of this server.

    In demo mode it holds the server's run queue: one comparison at a time, the others wait in order.
    """
    queue = data.RunQueue(data.demo_limits()["max_concurrent"]) if data.demo_enabled() else None
    return data.JobManager(cache_dir, queue=queue)


@st.cache_resource(show_spinner=False, max_entries=64)
def cached_plan(spec_text: str) -> data.Plan:
    """Validated plan of a spec (cheap to rebuild, but every rerun needs it)."""
    return data.plan(data.spec_from_text(spec_text))


def _select(label: str, key: str, menu: dict[str, str], default: str, **kw) -> str:
    if st.session_state.get(key) not in menu:
        st.session_state[key] = default if default in menu else next(iter(menu))
    return st.selectbox(label, list(menu), key=key, format_func=lambda k: f"{k} — {menu[k]}", **kw)


def read_url_once() -> None:
    """Put the URL's selection into the widgets on the session's first run."""
    if st.session_state.get(state.URL_LOADED):
        return
    values, errors = url.read(st.query_params)
    st.session_state.update(values)
    st.session_state[state.URL_ERRORS] = errors
    st.session_state[state.URL_LOADED] = True


def preset_state(key: str) -> dict[str, object]:
    """Widget values that reproduce preset ``key``: its selection, every other paradigm option, scenario parameter
    and hyper-parameter of its methods back at their defaults; the device stays the user's choice."""
    values = history_links.compare_state(data.preset_selection(key))
    values.pop(state.DEVICE, None)
    return values


def apply_preset() -> None:
    """``on_change`` of the preset menu: write the preset into the widgets, then reset the menu."""
    key = st.session_state.get(state.PRESET)
    if key is None:
        return
    st.session_state.update(preset_state(key))
    st.session_state[state.PRESET_APPLIED] = key
    st.session_state[state.PRESET] = None


def preset_menu() -> None:
    """The paper-preset menu (above the run controls): choosing one fills the form in the sidebar."""
    menu = data.presets()
    st.selectbox("Paper preset", list(menu), index=None, key=state.PRESET, on_change=apply_preset,
                 format_func=menu.__getitem__, placeholder="Fill the form with a seed paper's setting…",
                 help="Each seed paper's main settings: shrunk to the embedded digits dataset so a CPU runs them "
                      "(with the methods' digits defaults, not the paper's hyper-parameters), and at the paper's "
                      "size with each method's official hyper-parameters (GPU recommended). The paper's numbers "
                      "show beside ours.")


def preset_notes(spec: data.ComparisonSpec | None) -> list[str]:
    """Presets whose setting the selection is; says so (and what differs from the paper) above the results."""
    keys = data.matching_presets(spec) if spec is not None else []
    applied = st.session_state.get(state.PRESET_APPLIED)
    for key in keys:
        info = data.preset_info(key)
        st.caption(f":material/menu_book: This dataset, paradigm, scenario and model are also {info['paper']}'s "
                   f"setting **{info['title']}**: the paper's reported numbers show beside ours in the results' "
                   "*Paper numbers* tab.")
        if info["gpu_recommended"]:
            st.warning("Full-size setting: GPU recommended" +
                       ("" if info["offline"] else "; the dataset is downloaded on the first run") + ".")
        if key == applied:
            st.caption(f"How this setting differs from the paper's: {info['differences']}.")
        if info["missing"] and key == applied:
            st.caption(f"Not implemented here, left out of the preset: {', '.join(info['missing'])}.")
    return keys


def drop_inapplicable() -> None:
    """``on_change`` of the paradigm: take the methods that cannot run under the new paradigm out of the selection
    (the sidebar says which), so the count and the run match what runs."""
    paradigm = st.session_state.get(state.PARADIGM)
    na = data.not_applicable(paradigm) if paradigm in data.paradigms() else {}
    chosen = st.session_state.get(state.METHODS, [])
    dropped = [m for m in chosen if m in na]
    if dropped:
        st.session_state[state.METHODS] = [m for m in chosen if m not in na]
        st.session_state[state.DROPPED] = dropped


def sidebar() -> data.Selection:
    """The selection widgets (in the sidebar); returns what they hold."""
    sb = st.sidebar
    with sb:
        st.header("Setting")
        dataset = _select("Dataset", state.DATASET, data.datasets(), "digits")
        paradigm = _select("Paradigm", state.PARADIGM, data.paradigms(), "supervised", on_change=drop_inapplicable)
        rate_name, default_rate = data.paradigm_rate(paradigm)
        rate = None
        if rate_name:
            st.session_state.setdefault(state.RATE, float(default_rate or 0.0))
            rate = st.number_input(f"Rate ({rate_name})", step=0.05, format="%g", key=state.RATE,
                                   help="partial rate q / noise rate r of the paradigm, from 0 to below 1")
        labelled = 1.0
        if paradigm == "label_free":
            st.session_state.setdefault(state.LABELLED, 1.0)
            labelled = st.number_input("Labelled fraction", step=0.05, format="%g", key=state.LABELLED,
                                       help="share of the training samples whose labels the original and the "
                                            "retrained model were trained on (seeded); unlearning methods see no "
                                            "label. Above 0, at most 1 (the CLI's --labelled-fraction).")
        para = forms.schema_form(data.paradigm_schema(paradigm), lambda n: state.paradigm_param(paradigm, n))
        scenario = _select("Scenario", state.SCENARIO, data.scenarios(), "class")
        st.caption(data.scenario_description(scenario))
        scen = forms.schema_form(data.scenario_schema(scenario), lambda n: state.scenario_param(scenario, n))
        model = _select("Model", state.MODEL, data.models(), "cnn")
        st.header("Methods")
        menu = data.methods()
        st.session_state.setdefault(state.METHODS, [m for m in data.default_methods() if m in menu])
        chosen = st.multiselect("Methods", list(menu), key=state.METHODS,
                                help="\n".join(f"- `{k}`: {t}" for k, t in menu.items()))
        dropped = st.session_state.pop(state.DROPPED, None)
        if dropped:
            st.caption(f"Not applicable under {paradigm}, taken out of the selection: {', '.join(dropped)}.")
        na = data.not_applicable(paradigm)
        chosen_na = [m for m in chosen if m in na]
        if chosen_na:
            st.warning(f"Selected but not applicable under {paradigm} (they will not run): {', '.join(chosen_na)}.")
        if na:
            with st.expander(f"{len(na)} methods not applicable under {paradigm}"):
                for k, reason in na.items():
                    st.caption(f"`{k}`: {reason}")
        st.header("Run")
        st.session_state.setdefault(state.SEEDS, 1)
        seeds = st.number_input("Seeds", step=1, key=state.SEEDS,
                                help=f"seeds 0 … S-1, from 1 to {data.MAX_SEEDS}; numbers are mean ± std over seeds")
        device = _select("Device", state.DEVICE, {d: d for d in data.DEVICES}, "auto")
        names = data.executors()
        st.session_state.setdefault(state.EXECUTOR, data.default_executor())
        st.selectbox("Executor", names, key=state.EXECUTOR, disabled=len(names) == 1,
                     help="local: in this server process; ray: jobs become Ray tasks (a local Ray runtime, or "
                          "the cluster at $RAY_ADDRESS), running independent jobs in parallel. Results land in the "
                          "same cache either way." + (" Demo mode runs locally." if data.demo_enabled() else ""))
        if st.session_state.get(state.EXECUTOR) == "local":
            st.session_state.setdefault(state.WORKERS, data.default_workers())
            st.number_input("Worker processes", min_value=1, max_value=max(64, data.default_workers()), step=1,
                            key=state.WORKERS,
                            help="independent jobs at once, each in its own process (default one per core); 1 runs "
                                 "them one after another in this server. The numbers are the same either way.")
        st.session_state.setdefault(state.TUNE, 0)
        st.number_input(
            "Tuning budget (trials per method)", step=5, key=state.TUNE, disabled=data.demo_enabled(),
            help="0 = run the defaults only. N > 0: also tune every method the same way -- a seeded TPE search of "
                 f"N trials per method (trial 0 = the defaults) on the validation split, with tuning seeds "
                 f"{', '.join(map(str, data.DEFAULT_TUNING_SEEDS))} that are never reported -- then run the best "
                 "configuration of each on the seeds above: default and tuned side by side in the Tuning tab. "
                 f"Objective: {data.OBJECTIVE}." + (" Off in the hosted demo." if data.demo_enabled() else ""))
        with st.expander("Advanced: training"):
            ekey = state.epochs(dataset, model)
            default_epochs = data.default_epochs(dataset, model)
            st.session_state.setdefault(ekey, default_epochs)
            epochs = st.number_input("Epochs", step=1, key=ekey,
                                     help=f"epochs of the original and the retrained model (default {default_epochs}"
                                          "; from 1 to 1000)")
        with st.expander("Advanced: attacks"):
            st.session_state.setdefault(state.SHADOW, 0)
            shadow = st.number_input(
                "Shadow-model pairs", step=1, key=state.SHADOW,
                disabled=data.demo_enabled(),
                help="PGU's membership attack (mia_shadow_auc): trains N shadow originals and N shadow retrains "
                     "per seed and an XGBoost attacker on their forget-set outputs; 0 = off, 2 or more to run "
                     "it (PGU used 50). Costs 2N extra trainings per seed (batched for mlp / cnn)."
                     + (" Off in the hosted demo." if data.demo_enabled() else ""))
            ulira, audit = audit_controls(int(seeds), list(chosen))
    return data.Selection(dataset=dataset, paradigm=paradigm, rate=rate, paradigm_params=para, scenario=scenario,
                          scenario_params=scen,
                          model=model, methods=list(chosen), seeds=int(seeds), device=device, epochs=int(epochs),
                          shadow_models=int(shadow), labelled_fraction=float(labelled), ulira_shadows=ulira,
                          feature_audit=audit)


def audit_controls(seeds: int, methods: list[str]) -> tuple[int, bool]:
    """U-LiRA / RMIA shadow pairs and the representation audit (in the attacks expander), with what they cost for
    this selection stated under them; both off (and disabled) in the hosted demo, which trains no shadow models."""
    demo = data.demo_enabled()  # the demo's limits allow no shadow models (engine.demo), so none of these
    if demo:  # e.g. from a link: shown off, as it runs
        st.session_state[state.ULIRA], st.session_state[state.FEATURE_AUDIT] = 0, False
    st.session_state.setdefault(state.ULIRA, 0)
    k = st.number_input(
        ULIRA_LABEL, step=1, key=state.ULIRA, disabled=demo,
        help="U-LiRA (Hayes et al. 2024) and RMIA (Zarifzadeh et al. 2024), per-example likelihood-ratio attacks "
             "(mia_ulira, mia_rmia; log-log ROC in the results' Audit tab, per-sample scores in the Forget set "
             f"tab): K shadow originals and K shadow retrains per seed, every method applied to each shadow "
             f"original; 0 = off, else {data.ULIRA_MIN} to {data.ULIRA_MAX} (the CLI's --ulira K).")
    st.session_state.setdefault(state.FEATURE_AUDIT, False)
    audit = st.checkbox(
        AUDIT_LABEL, key=state.FEATURE_AUDIT, disabled=demo,
        help="CKA per layer to retrain and to the original, linear-probe and k-NN forget accuracy from frozen "
             "features, ZRF, weight distances and a 2-D embedding of the features (the Audit tab; the CLI's "
             "--feature-audit).")
    if demo:
        st.caption("U-LiRA / RMIA and the representation audit are off in the hosted demo: like the shadow-model "
                   "attack they train extra models per seed, more than this server runs per comparison.")
        return 0, False
    st.caption(audit_cost(seeds, methods, int(k), bool(audit)))
    return int(k), bool(audit)


def audit_cost(seeds: int, methods: list[str], k: int, audit: bool) -> str:
    """The caption that states what U-LiRA (``k`` shadow pairs) and the audit add to a run, in numbers."""
    others = [m for m in methods if m not in ("original", "retrain")]
    if k > 0:
        ulira = (f"U-LiRA / RMIA (K = {k}): 2K extra trainings per seed and K extra unlearning runs per method — here "
                 f"{seeds} × {2 * k} = **{seeds * 2 * k} trainings** and {seeds} × {k} × {len(others)} = "
                 f"**{seeds * k * len(others)} unlearning runs**.")
    else:
        ulira = ("U-LiRA / RMIA off (K = 0). With K pairs: 2K extra trainings per seed and K extra unlearning runs "
                 "per method.")
    rows = seeds * len(methods)
    rep = (f"Representation audit: one extra job per model — here **{rows} jobs**." if audit else
           "Representation audit off: it adds one extra job per model.")
    return f"{ulira}  \n{rep}"


def hyperparameters(sel: data.Selection) -> None:
    """One "Advanced: hyper-parameters" expander per selected method, generated from its schema."""
    if not sel.methods:
        st.caption("Select methods in the sidebar.")
    for m in sel.methods:
        params = data.method_schema(m)
        if not params:
            continue
        with st.expander(f"Advanced: hyper-parameters — {data.method_title(m)}"):
            sel.hparams[m] = forms.schema_form(params, lambda n, m=m: state.hparam(m, n), columns=3)


def stored_hyperparameters(sel: data.Selection) -> None:
    """The hyper-parameters the user set (session state, e.g. from a link or an earlier visit to the tab)
    without drawing their widgets; unset ones keep the schema default."""
    for m in sel.methods:
        given = {p.name: forms.coerce(p, st.session_state[state.hparam(m, p.name)])
                 for p in data.method_schema(m) if state.hparam(m, p.name) in st.session_state}
        if given:
            sel.hparams[m] = given


@st.fragment(run_every="1s")
def progress(mgr: data.JobManager, key: str) -> None:
    """Live progress of the run started from this session (overall bar with ETA, the running jobs, curves, every
    job's row); reruns the page when the run's state changes."""
    status = mgr.status(key)
    if status != st.session_state.get(state.SHOWN_STATE):
        st.rerun()
    progress_view.panel(mgr, key)


def restore_selection() -> None:
    """Streamlit drops the state of widgets a run did not draw (another page was shown): put it back."""
    for k, v in st.session_state.get(state.SAVED_SELECTION, {}).items():
        if k not in st.session_state:
            st.session_state[k] = v


def save_selection() -> None:
    st.session_state[state.SAVED_SELECTION] = {k: v for k, v in st.session_state.items()
                                               if isinstance(k, str) and k.startswith(state.SELECTION_PREFIX)}


def main() -> None:
    restore_selection()
    read_url_once()
    notices = st.session_state.get(state.URL_ERRORS, [])
    for msg in notices[:url.MAX_NOTICES]:
        st.warning(url.notice(msg))  # quotes the link: shown as text, never as markup
    if len(notices) > url.MAX_NOTICES:
        st.warning(f"… and {len(notices) - url.MAX_NOTICES} more link parameters ignored.")
    sel = sidebar()
    top = st.container()
    # lazy tabs: the hyper-parameter forms (~15 widgets per method) are drawn only while their tab is open;
    # otherwise their values come from the session state, where restore_selection keeps them
    tab_results, tab_hparams = st.tabs(["Results", "Method hyper-parameters"], key=state.COMPARE_TAB,
                                       on_change="rerun")
    if tab_hparams.open:
        with tab_hparams:
            hyperparameters(sel)
    else:
        stored_hyperparameters(sel)
    link = url.to_params(sel)
    st.query_params.from_dict({**link, **url.view_params(st.session_state)})
    save_selection()

    mgr = job_manager(str(data.default_cache_dir()))
    spec = plan = error = None
    if data.demo_enabled():
        lim = data.demo_limits()
        st.info(f"Hosted demo: at most {lim['max_seeds']} seeds and {lim['max_methods']} methods, no setting above "
                f"its default's work (epochs, steps, iterations, samples; batch sizes at least the default), "
                f"no ResNets, datasets already on the server; one comparison runs at a time and the others "
                f"queue. Cached comparisons and imported bundles (marked as imported) open instantly (History).",
                icon=":material/info:")
    try:
        spec = data.build_spec(sel)
        data.check_demo(spec)
        if data.dataset_offline(sel.dataset):
            plan = cached_plan(data.spec_to_text(spec))
    except SpecError as e:
        error, spec = e, None
    with top:
        preset_menu()
        matching = preset_notes(spec)
        run_controls(mgr, spec, plan, error)
    if tab_results.open:
        with tab_results:
            results(mgr, spec, plan, matching, link)


def run_controls(mgr: data.JobManager, spec: data.ComparisonSpec | None,
                 plan: data.Plan | None, error: SpecError | None) -> None:
    """Validation message, Run / Cancel and the live progress of this session's run."""
    if error is not None:  # the message may quote a value from the link: shown as text
        msg = f"**{url.literal(error.field)}**: {url.literal(error.message, limit=2000)}"
        st.sidebar.error(msg)
        st.error(msg)
    elif spec is not None:
        st.caption(url.literal(data.spec_summary(spec), limit=2000))  # text parameters may come from the link

    tune = None
    trials = st.session_state.get(state.TUNE) or 0
    if spec is not None and trials:
        tune = data.TuneOptions(trials=int(trials) if float(trials).is_integer() else trials)
        try:
            tune.check(spec.seeds)
        except SpecError as e:
            st.sidebar.error(f"**{e.field}**: {e.message}")
            st.error(f"**{e.field}**: {e.message}")
            spec = None
        else:
            n = sum(1 for why in data.tunable(spec).values() if not why)
            seeds = len(tune.seeds)
            st.caption(f"Tuning: {trials} trials × {n} methods × {seeds} tuning seeds = {trials * n * seeds} "
                       f"unlearning runs on validation (plus the original and retrained models of the "
                       f"{seeds} tuning seeds), then the {n} tuned configurations on the reported seeds.")
    key = spec.comparison_key() if spec is not None else None
    active = st.session_state.get(state.ACTIVE_RUN)
    if active is None and key is not None and mgr.status(key) == "running":  # e.g. started in another tab
        st.session_state[state.ACTIVE_RUN] = active = key
    running = active is not None and mgr.status(active) == "running"
    buttons = st.container(horizontal=True)  # side by side at any width (columns squeeze "Cancel" at 1100 px)
    b1 = b2 = buttons
    if b1.button("Run", type="primary", disabled=spec is None or running, key="compare.run"):
        executor = st.session_state.get(state.EXECUTOR, "local")
        workers = int(st.session_state.get(state.WORKERS, data.default_workers())) if executor == "local" else None
        st.session_state[state.ACTIVE_RUN] = mgr.start(spec, plan, executor, workers=workers, tune=tune)
        st.rerun()  # redraw with Run disabled and Cancel enabled
    if b2.button("Cancel", disabled=not running, key="compare.cancel"):
        mgr.cancel(active)

    if active is not None:
        st.session_state[state.SHOWN_STATE] = mgr.status(active)
        if active != key and running:
            st.info("The run in progress is for an earlier selection.")
        if running or active == key:  # a finished run of another selection is not this page's news
            progress(mgr, active)


@st.fragment(run_every="2s")
def live_leaderboard(mgr: data.JobManager, key: str, plan: data.Plan | None) -> None:
    """While the run goes on: the leaderboard as far as the store holds it, a row filling in per finished
    evaluation (re-read every 2 s; the charts come when the run has finished)."""
    res = data.stored_results(plan) if plan is not None else mgr.result(key)
    if res is None or not res.any_ok:
        st.info("Running: the leaderboard fills in as evaluations finish.")
        return
    st.caption("Running: rows fill in as evaluations finish; the charts and the other tabs come when the run is done.")
    results_view.leaderboard_view(res, "compare.live")


def results(mgr: data.JobManager, spec: data.ComparisonSpec | None, plan: data.Plan | None,
            presets: list[str] | None = None, link: dict[str, str] | None = None) -> None:
    """The current selection's results as far as the store holds them (nothing is recomputed); ``link``: the
    selection's query parameters (the results view adds its own to them)."""
    if spec is None:
        st.info("Fix the selection to see results.")
        return
    key = spec.comparison_key()
    if mgr.status(key) == "running":
        live_leaderboard(mgr, key, plan)
        return
    res = None
    if plan is not None:
        show_imported = False
        if data.has_imported(plan):
            show_imported = st.toggle("Show imported results", key=state.SHOW_IMPORTED,
                                      help="A results bundle brought rows of this comparison. They are not used "
                                           "by Run (which computes its own); shown here only if you ask, marked "
                                           "`source = imported`.")
        res = data.stored_results(plan, include_imported=show_imported)
    elif mgr.status(key) != "idle":
        res = mgr.result(key)
    issues = res.issues() if res is not None else None
    if res is None or (not res.any_ok and not (issues["status"] != "not_applicable").any()):
        st.info("Not computed yet: press **Run** (finished runs are reused from the cache).")
        if issues is not None and not issues.empty:
            st.markdown("**Not applicable in this setting**")
            st.dataframe(issues, width="stretch", hide_index=True)
        for key in presets or []:
            with st.expander("What the paper reports for this setting (not measured here)"):
                results_view.paper_section(None, key, "compare")
        return
    results_view.show(res, "compare", presets, link=link)
