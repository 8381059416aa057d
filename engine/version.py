"""Engine version: part of every cache key, bump when results would change."""

ENGINE_VERSION = "0.2.0"  # 0.2.0: val split (test metrics on test only), sealed views, isolated RNG
