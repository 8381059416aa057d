"""Engine version: part of every cache key, bump when results would change."""

ENGINE_VERSION = "0.1.0"
