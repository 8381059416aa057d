"""Helpers that several method modules share; none of them is a method.

The method registry's auto-discovery (``engine/methods/__init__.py``) imports the modules directly in
``engine/methods/`` and never a subpackage, so nothing here is registered and nothing here may import a method
module. ``descent`` (batches, optimisers, the step loop), ``distill`` (temperature KL), ``networks`` (a seeded
fresh network), ``relabel`` (random-label descent), ``fisher_noise`` (Fisher forgetting's noise), ``blocks``
(feature blocks and partial fine-tuning), ``gradient_mixing`` (UGradSL's smoothed-label ascent and its loop).
"""
