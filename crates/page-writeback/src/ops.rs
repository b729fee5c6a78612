//! The merge rules: how each op turns a field's committed value into its next one.
//!
//! Writeback uses these rules to validate, and stores use the same function inside their commit
//! transaction, so validation and commit can never disagree on what an op does.

use serde_json::Value;

use crate::journal::FieldState;
use crate::update::{FieldVersion, Op};

/// Why an op cannot apply to a field's current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// The op does not fit the field's shape (append to a non-list, merge a non-object).
    Shape(String),
    /// The op would destroy committed content (version mismatch, removal, overwrite).
    Destructive(String),
}

/// The value and version `op` with operand `value` leaves when the field currently holds
/// `current` (`None`: never written).
///
/// - `append`: pushes `value` onto the list (a missing field becomes `[value]`).
/// - `merge`: `value` must be an object; its keys are added or updated; a `null` member would
///   remove a key and is destructive.
/// - `set_with_version`: replaces the value if `expected` equals the committed version.
/// - `overwrite` and `remove` are always destructive.
///
/// Every successful op produces version `current.version + 1`.
///
/// # Errors
/// [`OpError::Shape`] or [`OpError::Destructive`], naming what does not fit.
pub fn apply_op(
    current: Option<&FieldState>,
    op: Op,
    value: &Value,
) -> Result<FieldState, OpError> {
    let version = current.map_or(FieldVersion::ABSENT, |c| c.version);
    let next = |value| {
        Ok(FieldState {
            value,
            version: version.next(),
        })
    };
    match op {
        Op::Append => match current.map(|c| &c.value) {
            None => next(Value::Array(vec![value.clone()])),
            Some(Value::Array(items)) => {
                let mut items = items.clone();
                items.push(value.clone());
                next(Value::Array(items))
            }
            Some(other) => Err(OpError::Shape(format!(
                "append needs a list field, the field holds {}",
                kind(other)
            ))),
        },
        Op::Merge => {
            let Value::Object(add) = value else {
                return Err(OpError::Shape(format!(
                    "merge needs an object operand, got {}",
                    kind(value)
                )));
            };
            if let Some((k, _)) = add.iter().find(|(_, v)| v.is_null()) {
                return Err(OpError::Destructive(format!(
                    "merge with null for key {k:?} would remove it"
                )));
            }
            match current.map(|c| &c.value) {
                None => next(value.clone()),
                Some(Value::Object(map)) => {
                    let mut map = map.clone();
                    for (k, v) in add {
                        map.insert(k.clone(), v.clone());
                    }
                    next(Value::Object(map))
                }
                Some(other) => Err(OpError::Shape(format!(
                    "merge needs a map field, the field holds {}",
                    kind(other)
                ))),
            }
        }
        Op::SetWithVersion { expected } => {
            if expected == version {
                next(value.clone())
            } else {
                Err(OpError::Destructive(format!(
                    "version mismatch: expected {expected}, committed {version}"
                )))
            }
        }
        Op::Overwrite => Err(OpError::Destructive(
            "overwrite would replace committed content without a version check".to_owned(),
        )),
        Op::Remove => Err(OpError::Destructive(
            "remove would delete committed content".to_owned(),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}
