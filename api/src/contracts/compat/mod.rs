//! JSON Schema compatibility engine (being written).
