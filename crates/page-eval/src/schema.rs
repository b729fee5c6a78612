//! The published JSON Schema of the workload format, generated from `page-policy`'s types.

use page_policy::Workload;

/// The JSON Schema of [`Workload`], pretty-printed with a trailing newline: the contents of
/// `specs/workload.schema.json`.
///
/// # Errors
/// [`EvalError::Serialize`](crate::EvalError::Serialize) if the schema cannot be serialized.
pub fn workload_schema_json() -> Result<String, crate::EvalError> {
    let schema = page_core::canonical_json(schemars::schema_for!(Workload).to_value());
    let mut text = serde_json::to_string_pretty(&schema).map_err(crate::EvalError::Serialize)?;
    text.push('\n');
    Ok(text)
}
