"""Tests of the app in headless Chromium."""
