//! End-to-end tests and web benchmarks: the real server and real headless Chromium tabs.
