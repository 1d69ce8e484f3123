//! Invariant checks shared by the fuzz targets and the corpus replay test. Not a public API.
