//! rampart-rules
