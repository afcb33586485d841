//! TODO
pub const DEFAULT_BASE_URL: &str = "https://api.synthflow.ai/v2";
