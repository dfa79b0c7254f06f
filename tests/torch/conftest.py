"""Tests of snn_bridge: they need the optional extra (pip install ".[torch]"), which CI
installs; without torch or snnTorch every test module here that needs them is skipped."""
