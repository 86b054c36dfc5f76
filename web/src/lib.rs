//! The web UI's files (`web/static/`), embedded into the `switchyard` binary so `serve` needs
//! no separate front-end build.

#[derive(rust_embed::RustEmbed)]
#[folder = "static/"]
pub struct Assets;
