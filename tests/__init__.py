"""Tests, in folders mirroring the packages; top-level files test the engine and hold the shared fakes and seeds."""
