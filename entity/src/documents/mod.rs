//! The typed form of the JSON documents stored in text columns: catalog definitions (template,
//! contract), the flow decision stored with an instance, and the decision record kept with each
//! run and delivery. The control plane writes them, workers read them; both go through these
//! types, so a document has one shape and one parser.

pub mod contract;
pub mod flow;
pub mod record;
pub mod template;

/// A document that does not have the expected shape: the path of the offending field (relative
/// to the document, e.g. `steps[2].config.window`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocError {
    pub path: String,
    pub message: String,
}

impl DocError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for DocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DocError {}

/// Deserialises `value` into `T`, naming the path of the first error (empty at the root).
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
) -> Result<T, DocError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        DocError::new(
            if path == "." { String::new() } else { path },
            e.inner().to_string(),
        )
    })
}
